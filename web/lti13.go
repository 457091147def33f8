package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/registry"
)

// stateCookiePrefix starts the name of the cookie that binds an LTI 1.3
// login to the browser that began it; one cookie per login, so logins in
// two tabs do not disturb each other.
const stateCookiePrefix = "labhub-lti-"

// stateCookieTTL matches the lifetime of the signed state.
const stateCookieTTL = 600

func stateCookieName(stateID string) string {
	sum := sha256.Sum256([]byte(stateID))
	return stateCookiePrefix + hex.EncodeToString(sum[:8])
}

// lti13Login handles the OIDC login initiation (GET or POST /lti/login).
// It needs no CSRF token: the platform posts it cross-site, and all it does
// is send the browser to the platform's authorization endpoint.
func (s *Server) lti13Login(c *gin.Context) {
	if err := parseForm(c); err != nil {
		s.fail(c, problem{Status: http.StatusBadRequest, Heading: "This login could not be read",
			Message: "The login form was malformed or too large.", Code: "bad_form"})
		return
	}
	lr, err := lti.ParseLoginRequest(c.Request.Form)
	if err != nil {
		s.rejectLaunch(c, "1.3", err)
		return
	}
	ctx := c.Request.Context()
	var p lti.Platform
	if lr.ClientID != "" {
		p, err = s.Registry.Platform(ctx, lr.Issuer, lr.ClientID)
	} else {
		p, err = s.Registry.PlatformByIssuer(ctx, lr.Issuer)
	}
	if errors.Is(err, lti.ErrUnknownPlatform) {
		hint := "Register the platform in Labhub with issuer " + strconv.Quote(lr.Issuer)
		if lr.ClientID != "" {
			hint += " and client id " + strconv.Quote(lr.ClientID)
		} else {
			hint += "; the platform sent no client_id, so the issuer must have exactly one registration"
		}
		s.rejectLaunch(c, "1.3", &lti.Error{Code: "unknown_platform", Status: http.StatusBadRequest,
			Detail: "login from an unregistered platform", Hint: hint + " (labhub lti13 add-platform)."})
		return
	}
	if err != nil {
		s.internalError(c, "look up platform", err)
		return
	}
	state, nonce, st, err := s.State.New(p.ID, lr.TargetLinkURI, lr.DeploymentID)
	if err != nil {
		s.internalError(c, "create login state", err)
		return
	}
	target, err := lti.AuthRequestURL(p, lr, s.PublicURL+"lti/launch", state, nonce)
	if err != nil {
		s.rejectLaunch(c, "1.3", err)
		return
	}
	s.setCookie(c, stateCookieName(st.ID), st.ID, s.base+"lti/", stateCookieTTL)
	c.Redirect(http.StatusFound, target)
}

// lti13Launch handles the id_token the platform posts back (POST
// /lti/launch).
func (s *Server) lti13Launch(c *gin.Context) {
	if err := parseForm(c); err != nil {
		s.fail(c, problem{Status: http.StatusBadRequest, Heading: "This launch could not be read",
			Message: "The launch form was malformed or too large.", Code: "bad_form"})
		return
	}
	form := c.Request.Form
	if form.Get("error") != "" {
		s.rejectLaunch(c, "1.3", lti.ParsePlatformError(form))
		return
	}
	rawState := form.Get("state")
	if rawState == "" {
		s.rejectLaunch(c, "1.3", &lti.Error{Code: "missing_state", Status: http.StatusBadRequest,
			Detail: "launch without state", Hint: "The platform must post back the state Labhub sent in the login redirect."})
		return
	}
	st, err := s.State.Open(rawState)
	if err != nil {
		s.rejectLaunch(c, "1.3", err)
		return
	}
	ck, err := c.Request.Cookie(stateCookieName(st.ID))
	if err != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(st.ID)) != 1 {
		s.rejectLaunch(c, "1.3", &lti.Error{Code: "state_mismatch", Status: http.StatusForbidden,
			Detail: "the browser did not present the cookie of the login this state belongs to",
			Hint:   "If Labhub runs inside an LMS iframe over plain HTTP, browsers drop its cookies: serve Labhub over HTTPS, or open the tool in a new window."})
		return
	}
	if form.Get("id_token") == "" {
		s.rejectLaunch(c, "1.3", &lti.Error{Code: "missing_parameter", Status: http.StatusBadRequest,
			Detail: "launch without id_token"})
		return
	}
	l, p, err := s.LTI13.Verify(c.Request.Context(), form.Get("id_token"), s.State.Nonce(st))
	if err != nil {
		s.rejectLaunch(c, "1.3", err)
		return
	}
	if err := st.Match(p, l); err != nil {
		s.rejectLaunch(c, "1.3", err)
		return
	}
	s.setCookie(c, stateCookieName(st.ID), "", s.base+"lti/", -1)
	id, err := strconv.ParseUint(p.ID, 10, 64)
	if err != nil {
		s.internalError(c, "read platform id", err)
		return
	}
	s.finishLaunch(c, registry.ProviderLTI13(uint(id)), "lti13", l)
}

// jwks serves the tool's public keys.
func (s *Server) jwks(c *gin.Context) {
	b, err := s.Keys.JWKS()
	if err != nil {
		s.internalError(c, "publish keys", err)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/json", b)
}
