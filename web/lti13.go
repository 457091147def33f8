package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/store"
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

// storageKey is the platform storage key under which a login keeps its
// state id when the platform offers lti_storage_target.
func storageKey(stateID string) string { return "labhub_" + stateCookieName(stateID) }

// lti13Login handles the OIDC login initiation (GET or POST /lti/login, or
// /lti/login/<platform id> for platforms that send no client_id). It needs
// no CSRF token: the platform posts it cross-site, and all it does is send
// the browser to the platform's authorization endpoint.
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
	switch id := c.Param("platform"); {
	case id != "":
		p, err = s.Registry.PlatformByID(ctx, id)
		if err == nil && (p.Issuer != lr.Issuer || lr.ClientID != "" && lr.ClientID != p.ClientID) {
			err = lti.ErrUnknownPlatform
		}
	case lr.ClientID != "":
		p, err = s.Registry.Platform(ctx, lr.Issuer, lr.ClientID)
	default:
		p, err = s.Registry.PlatformByIssuer(ctx, lr.Issuer)
	}
	if errors.Is(err, lti.ErrUnknownPlatform) {
		hint := "Register the platform in Labhub with issuer " + strconv.Quote(lr.Issuer)
		switch {
		case c.Param("platform") != "":
			hint = "This login URL belongs to registration " + c.Param("platform") + ", whose issuer and " +
				"client ID differ from the login's (issuer " + strconv.Quote(lr.Issuer) + "); give the LMS the " +
				"login URL of its own registration (admin console)"
		case lr.ClientID != "":
			hint += " and client ID " + strconv.Quote(lr.ClientID)
		default:
			hint += "; the platform sent no client_id, so either the issuer has exactly one registration or " +
				"the LMS uses the registration's own login URL (…/lti/login/<id>, shown in the admin console)"
		}
		s.rejectLaunch(c, "1.3", &lti.Error{Code: lti.CodeUnknownPlatform, Status: http.StatusBadRequest,
			Detail: "login from an unregistered platform", Hint: hint + "."})
		return
	}
	if err != nil {
		s.internalError(c, "look up platform", err)
		return
	}
	state, nonce, st, err := s.State.NewLogin(p.ID, lr)
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
	if lr.StorageTarget != "" {
		// The platform offers storage: keep the state id there too, for
		// browsers that drop the cookie inside the LMS page.
		s.render(c, http.StatusOK, "storage_login.html", map[string]any{
			"Title": "Logging in", "Base": s.base, "Next": target, "Target": lr.StorageTarget,
			"Origin": originOfURL(p.AuthURL), "Key": storageKey(st.ID), "Value": st.ID,
		})
		return
	}
	c.Redirect(http.StatusFound, target)
}

// launchForm is an LTI 1.3 launch post as lti13Launch reads it.
type launchForm struct {
	idToken, rawState string
	// storageValue is the state id read back from platform storage by
	// Labhub's own page, "" when none was.
	storageValue string
}

// lti13Launch handles the id_token the platform posts back (POST
// /lti/launch). The launch must come back to the browser that started the
// login: the login's state cookie proves it. A browser that sends other
// Labhub cookies but not this one keeps cookies here, so the login did not
// begin in it: the launch is refused, lest another site log the browser in
// as someone else. When the browser sends no Labhub cookie at all (browsers
// that refuse them inside the LMS page), the platform storage the login
// used proves it instead, or the launch continues in a new tab.
func (s *Server) lti13Launch(c *gin.Context) {
	f, st, ok := s.readLaunch(c)
	if !ok {
		return
	}
	switch b := launchBinding(c.Request, st.ID); {
	case b == bindingOwn:
		s.completeLaunch(c, f, st, true)
	case b == bindingForeign:
		s.rejectLaunch(c, "1.3", errForeignBrowser)
	case f.storageValue != "":
		// Labhub's storage page read the state id back from the platform's
		// storage in this browser. Only Labhub's own pages can post it.
		if !s.sameOrigin(c.Request) || st.StorageTarget == "" ||
			subtle.ConstantTimeCompare([]byte(f.storageValue), []byte(st.ID)) != 1 {
			s.rejectLaunch(c, "1.3", &lti.Error{Code: lti.CodeStateMismatch, Status: http.StatusForbidden,
				Detail: "the platform storage does not hold this login's state"})
			return
		}
		s.completeLaunch(c, f, st, false)
	case st.StorageTarget != "":
		s.render(c, http.StatusOK, "storage_launch.html", map[string]any{
			"Title": "Opening", "Base": s.base, "Action": s.base + "lti/launch", "IDToken": f.idToken,
			"State": f.rawState, "Target": st.StorageTarget, "Key": storageKey(st.ID),
			"Origin": s.platformAuthOrigin(c, st.PlatformID), "Preview": lti.PreviewToken(f.idToken),
		})
	default:
		// Nothing ties this post to the browser that logged in: continue in
		// a new tab, where the person's click on Labhub's own page does.
		s.render(c, http.StatusOK, "newtab.html", map[string]any{
			"Title": "Open in a new tab", "Base": s.base, "Action": s.base + "lti/launch/continue",
			"Fields": map[string]string{"id_token": f.idToken, "state": f.rawState},
			"Message": "Your browser keeps Labhub from working inside this page. The activity opens in a new " +
				"tab instead; nothing is lost.",
			"Preview": lti.PreviewToken(f.idToken),
		})
	}
}

// readLaunch parses a launch post and opens its state. On failure it has
// answered.
func (s *Server) readLaunch(c *gin.Context) (launchForm, lti.State, bool) {
	if err := parseForm(c); err != nil {
		s.fail(c, problem{Status: http.StatusBadRequest, Heading: "This launch could not be read",
			Message: "The launch form was malformed or too large.", Code: "bad_form"})
		return launchForm{}, lti.State{}, false
	}
	form := c.Request.Form
	if form.Get("error") != "" {
		s.rejectLaunch(c, "1.3", lti.ParsePlatformError(form))
		return launchForm{}, lti.State{}, false
	}
	f := launchForm{idToken: form.Get("id_token"), rawState: form.Get("state"),
		storageValue: form.Get("lti_storage_value")}
	if f.rawState == "" {
		s.rejectLaunch(c, "1.3", &lti.Error{Code: lti.CodeMissingState, Status: http.StatusBadRequest,
			Detail: "launch without state"})
		return launchForm{}, lti.State{}, false
	}
	st, err := s.State.Open(f.rawState)
	if err != nil {
		s.rejectLaunch(c, "1.3", err)
		return launchForm{}, lti.State{}, false
	}
	if f.idToken == "" {
		s.rejectLaunch(c, "1.3", &lti.Error{Code: lti.CodeMissingParameter, Status: http.StatusBadRequest,
			Detail: "launch without id_token"})
		return launchForm{}, lti.State{}, false
	}
	return f, st, true
}

// platformAuthOrigin is the origin platform storage messages go to: the
// platform's OIDC authorization endpoint's.
func (s *Server) platformAuthOrigin(c *gin.Context, platformID string) string {
	p, err := s.Registry.PlatformByID(c.Request.Context(), platformID)
	if err != nil {
		return ""
	}
	return originOfURL(p.AuthURL)
}

// completeLaunch verifies the id_token of a launch whose browser binding
// was checked and finishes it. cookies reports whether this browser keeps
// Labhub's cookies here; when it does not, the person continues in a new
// tab with a one-time ticket.
func (s *Server) completeLaunch(c *gin.Context, f launchForm, st lti.State, cookies bool) {
	// Every check that can reject runs inside Verify, before the nonce is
	// recorded, so a rejected launch writes nothing.
	l, p, err := s.LTI13.Verify(c.Request.Context(), f.idToken, s.State.Nonce(st),
		st.Match, func(_ lti.Platform, l *lti.Launch) error { return checkDeepLinker(l) })
	if err != nil {
		s.rejectLaunch(c, "1.3", err)
		return
	}
	s.setCookie(c, stateCookieName(st.ID), "", s.base+"lti/", -1)
	id, err := platformStoreID(p)
	if err != nil {
		s.internalError(c, "read platform id", err)
		return
	}
	provider := registry.ProviderLTI13(id)
	if l.MessageType == lti.MessageDeepLinking {
		s.deepLinkPicker(c, provider, p, l)
		return
	}
	if cookies {
		s.finishLaunch(c, provider, "lti13", l)
		return
	}
	s.finishLaunchInNewTab(c, provider, l)
}

// lti13Continue continues a launch in a new tab (POST
// /lti/launch/continue), from the button of Labhub's own page inside the
// LMS page: with the launch itself when nothing tied it to the browser, or
// with the ticket of a launch verified there. Only Labhub's pages can post
// here; a cross-site post is refused, so no other site can log a browser in
// with a launch of its own. Like lti13Launch, it refuses a launch whose
// login's state cookie is missing from a browser that holds the state
// cookie of another login.
func (s *Server) lti13Continue(c *gin.Context) {
	if err := parseForm(c); err != nil {
		s.fail(c, problem{Status: http.StatusBadRequest, Heading: "This launch could not be read",
			Message: "The launch form was malformed or too large.", Code: "bad_form"})
		return
	}
	if !s.sameOrigin(c.Request) {
		s.rejectLaunch(c, "1.3", &lti.Error{Code: lti.CodeStateMismatch, Status: http.StatusForbidden,
			Detail: "a launch continued from a page that is not Labhub's"})
		return
	}
	if ticket := c.Request.PostForm.Get("ticket"); ticket != "" {
		s.redeemTicket(c, ticket)
		return
	}
	f, st, ok := s.readLaunch(c)
	if !ok {
		return
	}
	// The new tab keeps Labhub's cookies, its session among them, so only
	// state cookies tell: one of another login and none of this one means
	// this browser is in the middle of a login of its own.
	if launchBinding(c.Request, st.ID) != bindingOwn && hasStateCookie(c.Request) {
		s.rejectLaunch(c, "1.3", errForeignBrowser)
		return
	}
	s.completeLaunch(c, f, st, true)
}

// launchTicket lets a new tab take over a launch verified in a page that
// cannot keep cookies.
type launchTicket struct {
	Nonce  string `json:"n"`
	UserID uint   `json:"u"`
	Server string `json:"s"`
	Method string `json:"m"`
}

const (
	ticketTTL   = 2 * time.Minute
	ticketScope = "launch-ticket"
)

// redeemTicket logs the new tab in as the ticket's user, once.
func (s *Server) redeemTicket(c *gin.Context, raw string) {
	var t launchTicket
	if err := s.openBlob("launch-ticket", raw, &t); err != nil {
		s.rejectLaunch(c, "1.3", &lti.Error{Code: lti.CodeExpiredState, Status: http.StatusBadRequest,
			Detail: "the launch ticket is forged or expired"})
		return
	}
	ctx := c.Request.Context()
	err := s.LTI13.Nonces.UseNonce(ctx, ticketScope, t.Nonce, time.Now().Add(ticketTTL+time.Minute))
	if errors.Is(err, lti.ErrReplay) {
		s.rejectLaunch(c, "1.3", &lti.Error{Code: lti.CodeReplayedNonce, Status: http.StatusBadRequest,
			Detail: "the launch ticket was already used"})
		return
	}
	if err != nil {
		s.internalError(c, "use launch ticket", err)
		return
	}
	var u store.User
	if err := s.DB.WithContext(ctx).First(&u, t.UserID).Error; err != nil {
		s.internalError(c, "load user", err)
		return
	}
	if !s.launchSession(c, &u, t.Method) {
		return
	}
	c.Redirect(http.StatusSeeOther, s.pendingURL(u.Name, t.Server))
}

// ticketPage answers a verified launch in a page without cookies: the
// server is starting, and a button opens it in a new tab.
func (s *Server) ticketPage(c *gin.Context, t launchTicket) {
	t.Nonce = rand.Text()
	raw, err := s.signBlob("launch-ticket", t, ticketTTL)
	if err != nil {
		s.internalError(c, "sign launch ticket", err)
		return
	}
	s.render(c, http.StatusOK, "newtab.html", map[string]any{
		"Title": "Open in a new tab", "Base": s.base, "Action": s.base + "lti/launch/continue",
		"Fields": map[string]string{"ticket": raw},
		"Message": "Your notebook server is starting. Your browser keeps Labhub from working inside this page, " +
			"so the notebook opens in a new tab.",
	})
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
