package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/account"
	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/store"
	"github.com/labhub/labhub/web"
)

// dropHubCookies forgets the cookies Labhub set, as a browser that refuses
// them inside an LMS page does.
func (h *harness) dropHubCookies(c *http.Client) {
	u, _ := url.Parse(h.hub.URL + "/lti/")
	var gone []*http.Cookie
	for _, ck := range c.Jar.Cookies(u) {
		gone = append(gone, &http.Cookie{Name: ck.Name, Path: "/lti/", MaxAge: -1})
	}
	c.Jar.SetCookies(u, gone)
}

// authForm follows a login redirect to the platform and returns the form
// its auth endpoint answers with.
func (h *harness) authForm(c *http.Client, authURL string) url.Values {
	h.t.Helper()
	resp, err := c.Get(authURL)
	require.NoError(h.t, err)
	body := readBody(h.t, resp)
	require.Equal(h.t, http.StatusOK, resp.StatusCode, body)
	_, fields, err := lms.ParseAutoSubmitForm(strings.NewReader(body))
	require.NoError(h.t, err)
	require.NotEmpty(h.t, fields.Get("id_token"), body)
	return fields
}

// lmsSession puts a platform session of u into c's jar.
func (h *harness) lmsSession(c *http.Client, u lms.User) {
	lu, _ := url.Parse(h.lmsURL)
	c.Jar.SetCookies(lu, []*http.Cookie{h.platform.Login(u)})
}

func stateID(t *testing.T, state string) string {
	t.Helper()
	body, _, _ := strings.Cut(state, ".")
	b, err := base64.RawURLEncoding.DecodeString(body)
	require.NoError(t, err)
	var p struct{ I string }
	require.NoError(t, json.Unmarshal(b, &p))
	return p.I
}

var sameOrigin = map[string]string{"Sec-Fetch-Site": "same-origin"}

// Canvas and Sakai offer platform storage: when the browser drops Labhub's
// state cookie inside the LMS page, the state read back from the platform's
// storage ties the launch to the browser instead, and a one-time ticket
// opens the notebook in a new tab.
func TestPlatformStorageLaunch(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{lms: lms.Options{StorageTarget: "post_message_forwarding"}})
	c := h.client()
	h.lmsSession(c, learner)
	action, form, err := h.platform.LoginInitiation(learner, crs, link, h.clientID)
	require.NoError(t, err)
	require.Equal(t, "post_message_forwarding", form.Get("lti_storage_target"))
	status, body, _ := post(t, c, action, form)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "lti.put_data")
	require.Contains(t, body, `"post_message_forwarding"`)
	next := html.UnescapeString(regexp.MustCompile(`id="next" href="([^"]+)"`).FindStringSubmatch(body)[1])
	require.True(t, strings.HasPrefix(next, h.lmsURL+"/mod/lti/auth.php?"))

	h.dropHubCookies(c)
	launch := h.authForm(c, next)
	require.Equal(t, "post_message_forwarding", launch.Get("lti_storage_target"))
	before, calls := h.counts(), h.docker.Calls()
	status, body, _ = post(t, c, h.hub.URL+"/lti/launch", launch)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "lti.get_data")
	require.Contains(t, body, `"`+h.lmsURL+`"`, "messages go to the platform's origin only")
	require.Equal(t, before, h.counts())

	// What the page posts once it read the state back.
	withValue := func(v string) url.Values {
		f := url.Values{"id_token": {launch.Get("id_token")}, "state": {launch.Get("state")}, "lti_storage_value": {v}}
		return f
	}
	id := stateID(t, launch.Get("state"))
	status, body = postWith(t, c, h.hub.URL+"/lti/launch", withValue("someone-else"), sameOrigin)
	h.expectRejected(t, status, body, before, calls, "state_mismatch")
	status, body = postWith(t, c, h.hub.URL+"/lti/launch", withValue(id), map[string]string{"Sec-Fetch-Site": "cross-site"})
	h.expectRejected(t, status, body, before, calls, "state_mismatch")

	status, body = postWith(t, c, h.hub.URL+"/lti/launch", withValue(id), sameOrigin)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, `action="/lti/launch/continue" target="_blank"`)
	ticket := html.UnescapeString(regexp.MustCompile(`name="ticket" value="([^"]+)"`).FindStringSubmatch(body)[1])
	h.settle()

	// The new tab: a same-origin post of the ticket logs in, once.
	tab := h.client()
	status, body = postWith(t, tab, h.hub.URL+"/lti/launch/continue", url.Values{"ticket": {ticket}},
		map[string]string{"Sec-Fetch-Site": "cross-site"})
	require.Equal(t, http.StatusForbidden, status, body)
	req, _ := http.NewRequest(http.MethodPost, h.hub.URL+"/lti/launch/continue",
		strings.NewReader(url.Values{"ticket": {ticket}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := tab.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/hub/spawn-pending/student1/lti101", resp.Header.Get("Location"))
	status, _, _ = getPage(t, tab, h.hub.URL+"/hub/home")
	require.Equal(t, http.StatusOK, status, "the new tab is logged in")
	status, body = postWith(t, h.client(), h.hub.URL+"/lti/launch/continue", url.Values{"ticket": {ticket}}, sameOrigin)
	require.Contains(t, body, "<code>replayed_nonce</code>", "a ticket works once (%d)", status)
}

// Moodle offers no platform storage: without the state cookie the launch
// continues in a new tab, where the person's click on Labhub's page posts
// it.
func TestNewTabLaunch(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	h.lmsSession(c, learner)
	action, form, err := h.platform.LoginInitiation(learner, crs, link, h.clientID)
	require.NoError(t, err)
	status, _, resp := post(t, c, action, form)
	require.Equal(t, http.StatusFound, status)
	h.dropHubCookies(c)
	launch := h.authForm(c, resp.Header.Get("Location"))
	status, body, _ := post(t, c, h.hub.URL+"/lti/launch", launch)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "Open in a new tab")
	require.Contains(t, body, "You continue as <strong>Sam Student</strong> in <strong>Course</strong> (Lab)",
		"the person sees whose launch they continue")
	_, fields, err := lms.ParseAutoSubmitForm(strings.NewReader(body))
	require.NoError(t, err)

	tab := h.client()
	status, body = postWith(t, tab, h.hub.URL+"/lti/launch/continue", fields,
		map[string]string{"Origin": h.hub.URL})
	require.Equal(t, http.StatusSeeOther, status, body)
	h.settle()
	status, _, _ = getPage(t, tab, h.hub.URL+"/hub/home")
	require.Equal(t, http.StatusOK, status, "the new tab is logged in")
}

// Over HTTPS Labhub's cookies work inside LMS pages (SameSite=None; Secure;
// Partitioned), and its pages may be framed by the registered LMSs only.
func TestCookiesAndFramesOverHTTPS(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{tls: true})
	c := h.client()
	action, form, err := h.platform.LoginInitiation(learner, crs, link, h.clientID)
	require.NoError(t, err)
	_, _, resp := post(t, c, action, form)
	set := resp.Header.Get("Set-Cookie")
	require.Contains(t, set, "Secure")
	require.Contains(t, set, "SameSite=None")
	require.Contains(t, set, "Partitioned")
	require.Contains(t, set, "HttpOnly")
	require.Equal(t, "frame-ancestors 'self' "+h.lmsURL, resp.Header.Get("Content-Security-Policy"))
	require.Empty(t, resp.Header.Get("X-Frame-Options"))

	b := &lms.Browser{Client: c, Platform: h.platform}
	resp, err = b.LaunchLTI13(context.Background(), learner, crs, link, h.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	var session string
	for _, ck := range resp.Cookies() {
		if ck.Name == auth.SessionCookie {
			session = ck.Raw
		}
	}
	require.Contains(t, session, "Partitioned")
	require.Contains(t, session, "SameSite=None")
}

func (h *harness) adminClient(admin bool) *http.Client {
	h.t.Helper()
	u := store.User{Name: "root", Admin: admin}
	if !admin {
		u.Name = "someone"
	}
	require.NoError(h.t, h.db.Create(&u).Error)
	cookie, _, err := h.auth.NewSession(context.Background(), nil, u.ID, "test")
	require.NoError(h.t, err)
	c := h.client()
	hu, _ := url.Parse(h.hub.URL)
	c.Jar.SetCookies(hu, []*http.Cookie{{Name: auth.SessionCookie, Value: cookie, Path: "/"}})
	return c
}

// The admin console manages registrations by hand, creates dynamic
// registration URLs and rotates the tool keys.
func TestAdminConsole(t *testing.T) {
	h := newHarness(t)
	status, _, _ := getPage(t, h.adminClient(false), h.hub.URL+"/hub/admin/lti")
	require.Equal(t, http.StatusNotFound, status, "only administrators")

	c := h.adminClient(true)
	status, _, body := getPage(t, c, h.hub.URL+"/hub/admin/lti")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, h.lmsURL)
	require.Contains(t, body, h.hub.URL+"/lti/login/1")
	require.Contains(t, body, h.hub.URL+"/lti/jwks")
	csrf := csrfOf(t, body)
	form := func(v url.Values) (int, string) {
		v.Set("_csrf", csrf)
		s, b, _ := post(t, c, h.hub.URL+"/hub/admin/lti"+v.Get("path"), v)
		return s, b
	}

	status, body = form(url.Values{"path": {"/invites"}, "note": {"moodle"}, "days": {"3"}})
	require.Equal(t, http.StatusOK, status)
	inv := regexp.MustCompile(`id="new-invite">([^<]+)<`).FindStringSubmatch(body)
	require.NotNil(t, inv)
	require.True(t, strings.HasPrefix(html.UnescapeString(inv[1]), h.hub.URL+"/lti/register?invite="))
	var invites int64
	require.NoError(t, h.db.Model(&store.RegistrationInvite{}).Count(&invites).Error)
	for _, days := range []string{"-3", "abc", "999999999999"} {
		status, body = form(url.Values{"path": {"/invites"}, "days": {days}})
		require.Equal(t, http.StatusBadRequest, status, days)
		require.Contains(t, html.UnescapeString(body), "valid for 1 to 90 days", days)
	}
	var after int64
	require.NoError(t, h.db.Model(&store.RegistrationInvite{}).Count(&after).Error)
	require.Equal(t, invites, after, "nothing was created")

	status, body = form(url.Values{"path": {"/keys/rotate"}})
	require.Equal(t, http.StatusConflict, status, "the next key is too new to sign")
	require.Contains(t, body, "force")
	status, body = form(url.Values{"path": {"/keys/rotate"}, "force": {"1"}})
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "signs from now on")
	_, _, jwks := getPage(t, c, h.hub.URL+"/lti/jwks")
	var set struct{ Keys []any }
	require.NoError(t, json.Unmarshal([]byte(jwks), &set))
	require.Len(t, set.Keys, 3, "retired, current and next")

	status, _ = form(url.Values{"path": {"/platforms/1"}, "policy": {"add"}, "origins": {"https://lms.example.edu"},
		"add_deployment": {"42"}})
	require.Equal(t, http.StatusOK, status)
	ps, err := h.registry.Platforms(context.Background())
	require.NoError(t, err)
	require.Equal(t, "add", ps[0].DeploymentPolicy)
	require.Equal(t, "https://lms.example.edu", ps[0].Origins)
	require.Len(t, ps[0].Deployments, 2)
	status, body = form(url.Values{"path": {"/platforms/1"}, "origins": {"not an origin"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "is not a web origin")

	canvas := url.Values{"path": {"/platforms"}, "issuer": {"https://canvas.instructure.com"},
		"client_id": {"10000000000009"}, "deployments": {"a, b"},
		"auth_url": {"https://sso.canvaslms.com/api/lti/authorize_redirect"},
		"jwks_url": {"https://sso.canvaslms.com/api/lti/security/jwks"}, "origins": {"https://school.instructure.com"}}
	status, body = form(canvas)
	require.Equal(t, http.StatusBadRequest, status, "a platform typed in needs its token URL")
	require.Contains(t, body, "token URL is required")
	canvas.Set("token_url", "https://sso.canvaslms.com/login/oauth2/token")
	canvas.Set("deployments", " ")
	status, body = form(canvas)
	require.Equal(t, http.StatusBadRequest, status, "and a deployment id")
	require.Contains(t, body, "at least one deployment id")
	canvas.Set("deployments", "a, b")
	status, body = form(canvas)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "Saved the platform")
	status, body = form(canvas)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "Updated the platform")
	status, body = form(url.Values{"path": {"/platforms"}, "issuer": {"x"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "was not saved")

	s, _, _ := post(t, c, h.hub.URL+"/hub/admin/lti/invites", url.Values{"_csrf": {"wrong"}})
	require.Equal(t, http.StatusForbidden, s)

	// What the administrator did is in the audit log.
	var actions []string
	require.NoError(t, h.db.Model(&store.AuditEntry{}).Distinct().Order("action").Pluck("action", &actions).Error)
	require.Subset(t, actions, []string{"invite.create", "platform.register", "toolkey.rotate"})
}

// A blocked user's launch tied to the browser by platform storage starts
// no server: it is refused like any other launch of theirs.
func TestBlockedUserPlatformStorageLaunch(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{lms: lms.Options{StorageTarget: "post_message_forwarding"},
		tune: []func(*harness, *web.Options){func(h *harness, o *web.Options) {
			o.Accounts = account.New(o.DB, h.seal, account.Options{Native: true,
				Policy: &account.Policy{Blocked: account.ParseNames("student1")}})
		}}})
	c := h.client()
	h.lmsSession(c, learner)
	action, form, err := h.platform.LoginInitiation(learner, crs, link, h.clientID)
	require.NoError(t, err)
	status, body, _ := post(t, c, action, form)
	require.Equal(t, http.StatusOK, status)
	next := html.UnescapeString(regexp.MustCompile(`id="next" href="([^"]+)"`).FindStringSubmatch(body)[1])
	h.dropHubCookies(c)
	launch := h.authForm(c, next)
	launch.Set("lti_storage_value", stateID(t, launch.Get("state")))
	status, body = postWith(t, c, h.hub.URL+"/lti/launch", launch, sameOrigin)
	require.Equal(t, http.StatusForbidden, status, body)
	require.Contains(t, body, "blocked_user")
	h.settle()
	require.Zero(t, h.docker.Calls(), "nothing starts for a blocked user")
}
