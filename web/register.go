package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/advantage"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/store"
)

// toolRegistration describes Labhub to platforms that register it.
func (s *Server) toolRegistration() lti.ToolRegistration {
	return lti.ToolRegistration{
		Name:        "Labhub",
		Description: "Jupyter notebooks for every student of the course, one server per student per course.",
		LoginURL:    s.PublicURL + "lti/login", LaunchURL: s.PublicURL + "lti/launch",
		JWKSURL: s.PublicURL + "lti/jwks", DeepLinkingURL: s.PublicURL + "lti/launch",
		Scopes: []string{lti.ScopeLineItem, lti.ScopeLineItemReadOnly, lti.ScopeResultReadOnly, lti.ScopeScore,
			lti.ScopeMemberships},
		Claims: []string{"name", "given_name", "family_name", "email"},
	}
}

// registerFail renders a dynamic registration failure.
func (s *Server) registerFail(c *gin.Context, status int, heading, message, hint, code string) {
	s.fail(c, problem{Status: status, Heading: heading, Message: message, Hint: hint, Code: code,
		Action: "Start the registration again from the LMS: in Moodle, Site administration → Plugins → " +
			"Activity modules → External tool → Manage tools, paste Labhub's registration URL into " +
			"\"Tool URL\" and press \"Add LTI Advantage\"."})
}

// register handles LTI dynamic registration (GET /lti/register): the LMS
// sends the administrator's browser here with openid_configuration and
// registration_token. Labhub reads the platform's configuration, registers
// itself with the token, stores the platform with its client id and
// deployment id, and tells the LMS to close its registration window.
func (s *Server) register(c *gin.Context) {
	ctx := c.Request.Context()
	q := c.Request.URL.Query()
	configURL, token := q.Get("openid_configuration"), q.Get("registration_token")
	policy := s.Advantage.Registration
	if policy == "" {
		policy = RegistrationInvite
	}
	if policy == RegistrationOff {
		s.registerFail(c, http.StatusNotFound, "Dynamic registration is turned off",
			"This Labhub does not register itself with LMSs.",
			"Register the LMS by hand (admin console or labhub lti13 add-platform), or start Labhub with "+
				"--lti13-registration invite.", "registration_off")
		return
	}
	cu, err := url.Parse(configURL)
	if configURL == "" || err != nil || !cu.IsAbs() || cu.Host == "" || (cu.Scheme != "https" && cu.Scheme != "http") {
		s.registerFail(c, http.StatusBadRequest, "This address is for your LMS",
			"Labhub's registration URL is meant to be pasted into the LMS, which opens it with its own "+
				"configuration (openid_configuration); it cannot be opened directly.", "", "missing_configuration")
		return
	}
	platformOrigin := originOfURL(cu.Scheme + "://" + cu.Host)
	// The LMS shows this page in its own frame; it is not registered yet.
	c.Header("Content-Security-Policy", frameAncestorsPolicy(append(s.FrameAncestors(), platformOrigin)))
	if token == "" {
		s.registerFail(c, http.StatusBadRequest, "The registration token is missing",
			"The LMS opened Labhub's registration without a registration token.",
			"Open the registration from the LMS's tool management page again; do not copy the address "+
				"into another window.", "missing_registration_token")
		return
	}
	var invite *store.RegistrationInvite
	if policy == RegistrationInvite {
		invite, err = s.Registry.CheckInvite(ctx, q.Get("invite"))
		if errors.Is(err, registry.ErrInvite) {
			s.registerFail(c, http.StatusForbidden, "This registration link is not valid",
				"The registration URL is missing its invite, or the invite expired or was already used.",
				"Create a new registration URL in Labhub's admin console (or with labhub lti13 invite) and "+
					"paste it into the LMS.", "bad_invite")
			return
		}
		if err != nil {
			s.internalError(c, "check invite", err)
			return
		}
	}
	reg := s.Advantage.Registrar
	if reg == nil {
		reg = &advantage.Registrar{}
	}
	conf, err := reg.Configuration(ctx, configURL)
	if err != nil {
		s.logger(c).Warn("failed to read platform configuration", "config_url", configURL, "error", err)
		s.registerFail(c, http.StatusBadGateway, "Labhub could not read the LMS's configuration",
			"Labhub could not fetch or understand the configuration at "+configURL+".",
			"The LMS must be reachable from the Labhub server at that address.", "bad_configuration")
		return
	}
	resp, err := reg.Register(ctx, conf, token, s.toolRegistration())
	if err != nil {
		s.logger(c).Warn("platform refused registration", "issuer", conf.Issuer, "error", err)
		var re *advantage.RegistrationError
		code := ""
		if errors.As(err, &re) {
			code = re.Code
		}
		switch {
		case code == "token_already_used":
			s.registerFail(c, http.StatusConflict, "This registration was already completed",
				"The LMS says its registration token was already used: Labhub is registered with it.",
				"Look for Labhub in the LMS's tool list (in Moodle under Manage tools, possibly as Pending). "+
					"To register again, start a new registration in the LMS.", "token_already_used")
		case strings.Contains(code, "registration_token"):
			s.registerFail(c, http.StatusUnauthorized, "The registration token was refused",
				"The LMS did not accept its own registration token ("+code+"); it expires an hour after the "+
					"registration started.", "Start the registration again in the LMS.", code)
		default:
			s.registerFail(c, http.StatusBadGateway, "The LMS refused the registration",
				"The LMS did not accept Labhub's registration: "+err.Error()+".",
				"Check the LMS's log; Moodle requires the tool's domain to match Labhub's public URL "+
					"(--public-url).", "registration_refused")
		}
		return
	}
	in := registry.PlatformInput{Name: platformName(conf), Issuer: conf.Issuer, ClientID: resp.ClientID,
		AuthURL: conf.AuthorizationEndpoint, TokenURL: conf.TokenEndpoint, TokenAudience: conf.AuthorizationServer,
		JWKSURL: conf.JWKSURI, Origins: []string{platformOrigin}}
	if resp.DeploymentID != "" {
		in.Deployments = []string{resp.DeploymentID}
	} else {
		// The platform did not say which deployment it created: accept the
		// first ones it launches with.
		in.DeploymentPolicy = registry.PolicyAdd
	}
	p, err := s.Registry.PutPlatform(ctx, in)
	if err != nil {
		s.internalError(c, "store platform", err)
		return
	}
	if invite != nil {
		if err := s.Registry.UseInvite(ctx, invite.ID, p.ID); err != nil {
			s.logger(c).Warn("registration invite used twice", "invite_id", invite.ID, "platform_id", p.ID)
		}
	}
	s.logger(c).Info("registered platform", "platform_id", p.ID, "issuer", p.Issuer, "client_id", p.ClientID,
		"deployment_id", resp.DeploymentID, "product", conf.ProductFamilyCode)
	s.render(c, http.StatusOK, "registered.html", map[string]any{
		"Title": "Registered", "Base": s.base, "Issuer": conf.Issuer, "ClientID": resp.ClientID,
		"DeploymentID": resp.DeploymentID, "Moodle": conf.ProductFamilyCode == "moodle", "Origin": platformOrigin,
	})
}

// platformName names a registered platform for people.
func platformName(c *lti.PlatformConfiguration) string {
	host := c.Issuer
	if u, err := url.Parse(c.Issuer); err == nil && u.Host != "" {
		host = u.Host
	}
	if c.ProductFamilyCode == "" {
		return host
	}
	return c.ProductFamilyCode + " " + host
}
