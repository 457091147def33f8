package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/web"
)

// getPage fetches a URL and returns status, headers and body.
func getPage(t *testing.T, c *http.Client, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func (h *harness) browser() *lms.Browser {
	return &lms.Browser{Client: h.client(), Platform: h.platform}
}

// registrationURL creates an invite and returns the URL an administrator
// pastes into the LMS.
func (h *harness) registrationURL() string {
	tok, _, err := h.registry.CreateInvite(context.Background(), time.Hour, "test")
	require.NoError(h.t, err)
	return web.RegistrationURL(h.hub.URL+"/", tok)
}

// An LMS administrator registers Labhub in Moodle with "Add LTI Advantage":
// Labhub stores the platform, client id and deployment id, Moodle keeps the
// tool Pending until activated, and launches work.
func TestDynamicRegistrationWithMoodle(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{unregistered: true})
	c := h.client()
	start, err := h.platform.StartRegistration(h.registrationURL())
	require.NoError(t, err)
	status, hdr, body := getPage(t, c, start)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "Labhub is registered")
	require.Contains(t, body, "Pending", "Moodle administrators are told to activate the tool")
	require.Contains(t, body, `"org.imsglobal.lti.close"`)
	require.Contains(t, body, h.lmsURL, "the close message goes to the LMS")
	require.Contains(t, hdr.Get("Content-Security-Policy"), "frame-ancestors 'self' "+h.lmsURL,
		"Moodle shows the registration in its own frame")

	ps, err := h.registry.Platforms(context.Background())
	require.NoError(t, err)
	require.Len(t, ps, 1)
	p := ps[0]
	tools := h.platform.Tools()
	require.Len(t, tools, 1)
	tool := tools[0]
	require.Equal(t, h.lmsURL, p.Issuer)
	require.Equal(t, tool.ClientID, p.ClientID)
	require.Equal(t, h.lmsURL+"/mod/lti/auth.php", p.AuthURL)
	require.Equal(t, h.lmsURL+"/mod/lti/token.php", p.TokenURL)
	require.Equal(t, h.lmsURL+"/mod/lti/certs.php", p.JWKSURL)
	require.Equal(t, h.lmsURL, p.Origins)
	require.Len(t, p.Deployments, 1)
	require.Equal(t, tool.DeploymentID, p.Deployments[0].DeploymentID)
	require.Equal(t, registry.PolicyReject, p.DeploymentPolicy)
	require.True(t, tool.Pending)
	require.Equal(t, h.hub.URL+"/lti/launch", tool.DeepLinkingURL, "deep linking is offered")
	require.False(t, tool.HideName, "Labhub asks for the launcher's name (Moodle's username)")
	invites, err := h.registry.Invites(context.Background())
	require.NoError(t, err)
	require.NotNil(t, invites[0].UsedAt)
	require.Equal(t, p.ID, invites[0].PlatformID)

	// Pending until the administrator activates it, then launches work.
	_, err = h.browser().LaunchLTI13(context.Background(), learner, crs, link, tool.ClientID)
	require.ErrorContains(t, err, "pending")
	require.NoError(t, h.platform.ActivateTool(tool.ClientID))
	resp, err := h.browser().LaunchLTI13(context.Background(), learner, crs, link, tool.ClientID)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/hub/spawn-pending/student1/lti101", resp.Header.Get("Location"))

	// The same registration again: the invite is spent.
	status, _, body = getPage(t, c, start)
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body, "This registration link is not valid")
	require.Contains(t, body, "<code>bad_invite</code>")
	// With a fresh invite, Moodle says its token was used.
	u, _ := url.Parse(start)
	q := u.Query()
	fresh, _ := url.Parse(h.registrationURL())
	q.Set("invite", fresh.Query().Get("invite"))
	u.RawQuery = q.Encode()
	status, _, body = getPage(t, c, u.String())
	require.Equal(t, http.StatusConflict, status, body)
	require.Contains(t, body, "This registration was already completed")
	require.Contains(t, body, "<code>token_already_used</code>")
}

func TestDynamicRegistrationRefusals(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{unregistered: true})
	c := h.client()
	start, err := h.platform.StartRegistration(h.registrationURL())
	require.NoError(t, err)
	u, _ := url.Parse(start)

	without := func(names ...string) string {
		v := *u
		q := v.Query()
		for _, n := range names {
			q.Del(n)
		}
		v.RawQuery = q.Encode()
		return v.String()
	}
	status, _, body := getPage(t, c, without("registration_token"))
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "The registration token is missing")
	require.Contains(t, body, "Add LTI Advantage", "the administrator is told where to start again")
	status, _, body = getPage(t, c, without("openid_configuration", "registration_token"))
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "This address is for your LMS")
	status, _, body = getPage(t, c, without("invite"))
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body, "bad_invite")

	// A token the LMS does not accept (another Moodle signed it).
	q := u.Query()
	q.Set("registration_token", strings.Repeat("x", 10)+"."+strings.Repeat("y", 10)+".z")
	v := *u
	v.RawQuery = q.Encode()
	status, _, body = getPage(t, c, v.String())
	require.Equal(t, http.StatusUnauthorized, status, body)
	require.Contains(t, body, "The registration token was refused")
	ps, err := h.registry.Platforms(context.Background())
	require.NoError(t, err)
	require.Empty(t, ps, "nothing is registered by a refused registration")

	// An unreachable configuration.
	q = u.Query()
	q.Set("openid_configuration", h.lmsURL+"/nowhere")
	v.RawQuery = q.Encode()
	status, _, body = getPage(t, c, v.String())
	require.Equal(t, http.StatusBadGateway, status)
	require.Contains(t, body, "could not read the LMS")
}

func TestDynamicRegistrationPolicies(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		h := newHarnessWith(t, harnessOptions{unregistered: true, registration: web.RegistrationOff})
		start, err := h.platform.StartRegistration(h.registrationURL())
		require.NoError(t, err)
		status, _, body := getPage(t, h.client(), start)
		require.Equal(t, http.StatusNotFound, status)
		require.Contains(t, body, "Dynamic registration is turned off")
	})
	t.Run("open, brightspace-like platform", func(t *testing.T) {
		h := newHarnessWith(t, harnessOptions{unregistered: true, registration: web.RegistrationOpen,
			lms: lms.Options{MessagesAsObjects: true, TokenAudience: "https://api.brightspace.com/auth/token"}})
		start, err := h.platform.StartRegistration(h.hub.URL + "/lti/register")
		require.NoError(t, err)
		status, _, body := getPage(t, h.client(), start)
		require.Equal(t, http.StatusOK, status, body)
		ps, err := h.registry.Platforms(context.Background())
		require.NoError(t, err)
		require.Len(t, ps, 1)
		require.Equal(t, "https://api.brightspace.com/auth/token", ps[0].TokenAudience,
			"the authorization server becomes the token audience")
		require.Equal(t, h.hub.URL+"/lti/launch", h.platform.Tools()[0].DeepLinkingURL,
			"message types written as objects are read")
	})
}

// Registration by hand: the tool configuration JSON, the LTI 1.1 cartridge.
func TestToolConfiguration(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	status, hdr, body := getPage(t, c, h.hub.URL+"/lti/config.json")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "application/json", hdr.Get("Content-Type"))
	for _, want := range []string{`"oidc_initiation_url": "` + h.hub.URL + `/lti/login"`,
		`"target_link_uri": "` + h.hub.URL + `/lti/launch"`, `"public_jwk_url": "` + h.hub.URL + `/lti/jwks"`,
		`"LtiDeepLinkingRequest"`, `contextmembership.readonly`} {
		require.Contains(t, body, want)
	}
	status, _, body = getPage(t, c, h.hub.URL+"/lti11/config.xml")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "<blti:launch_url>"+h.hub.URL+"/hub/lti/launch</blti:launch_url>")
	require.Contains(t, body, "cartridge_basiclti_link")
}
