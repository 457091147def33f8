package lms

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	toolRedirect  = "http://127.0.0.1:9/lti/launch"
	otherRedirect = "http://127.0.0.1:9/other/launch"
)

// authSetup is a platform with two tools and a pending launch of student.
type authSetup struct {
	p      *Platform
	client *http.Client // logged in as student
	params url.Values   // a valid authentication request for the launch
}

func newAuthSetup(t *testing.T, p *Platform) authSetup {
	t.Helper()
	_, form, err := p.LoginInitiation(student, course, link, "tool-a")
	require.NoError(t, err)
	return authSetup{
		p:      p,
		client: loggedInClient(t, p, student),
		params: url.Values{
			"scope":            {"openid"},
			"response_type":    {"id_token"},
			"response_mode":    {"form_post"},
			"prompt":           {"none"},
			"client_id":        {form.Get("client_id")},
			"redirect_uri":     {toolRedirect},
			"login_hint":       {form.Get("login_hint")},
			"lti_message_hint": {form.Get("lti_message_hint")},
			"nonce":            {"nonce-1"},
			"state":            {"state-1"},
		},
	}
}

func authPlatform(t *testing.T) *Platform {
	t.Helper()
	p, _ := newTestPlatform(t, Options{})
	p.AddTool(Tool{ClientID: "tool-a", DeploymentID: "1", LoginURL: "http://127.0.0.1:9/lti/login",
		RedirectURIs:  []string{"  " + toolRedirect + "  ", "http://127.0.0.1:9/lti/second"},
		TargetLinkURI: toolRedirect})
	p.AddTool(Tool{ClientID: "tool-b", DeploymentID: "2", LoginURL: "http://127.0.0.1:9/other/login",
		RedirectURIs: []string{otherRedirect}, TargetLinkURI: otherRedirect})
	p.AddMember(course, teacher, nil)
	return p
}

// authResult is what came back from the auth endpoint.
type authResult struct {
	status int
	form   pageForm
	isForm bool
}

func callAuth(t *testing.T, c *http.Client, p *Platform, method string, params url.Values) authResult {
	t.Helper()
	var req *http.Request
	var err error
	if method == http.MethodPost {
		req, err = http.NewRequest(method, p.Issuer()+"/mod/lti/auth.php", strings.NewReader(params.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, err = http.NewRequest(method, p.Issuer()+"/mod/lti/auth.php?"+params.Encode(), nil)
		require.NoError(t, err)
	}
	status, _, body := do(t, c, req)
	pf, err := parseFirstForm(body)
	return authResult{status: status, form: pf, isForm: err == nil}
}

func TestAuthEndpointStrictness(t *testing.T) {
	t.Parallel()
	p := authPlatform(t)
	const page = "error page"
	for _, tc := range []struct {
		name   string
		method string
		mutate func(v url.Values)
		// want is "id_token", page, or "error code|description".
		want string
	}{
		{name: "valid GET", want: "id_token"},
		{name: "valid POST", method: http.MethodPost, want: "id_token"},
		{name: "second registered redirect uri", want: "id_token",
			mutate: func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:9/lti/second") }},
		{name: "empty prompt", want: "id_token", mutate: func(v url.Values) { v.Del("prompt") }},
		{name: "no state", want: "id_token", mutate: func(v url.Values) { v.Del("state") }},

		{name: "unregistered redirect uri", want: page,
			mutate: func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:9/evil") }},
		{name: "redirect uri with trailing slash", want: page,
			mutate: func(v url.Values) { v.Set("redirect_uri", toolRedirect+"/") }},
		{name: "redirect uri with query", want: page,
			mutate: func(v url.Values) { v.Set("redirect_uri", toolRedirect+"?x=1") }},
		{name: "redirect uri differing in case", want: page,
			mutate: func(v url.Values) { v.Set("redirect_uri", strings.ToUpper(toolRedirect)) }},
		{name: "redirect uri of another tool", want: page,
			mutate: func(v url.Values) { v.Set("redirect_uri", otherRedirect) }},
		{name: "javascript redirect uri", want: page,
			mutate: func(v url.Values) { v.Set("redirect_uri", "javascript:alert(1)") }},

		{name: "missing nonce", want: page, mutate: func(v url.Values) { v.Del("nonce") }},
		{name: "missing login_hint", want: page, mutate: func(v url.Values) { v.Del("login_hint") }},
		{name: "missing client_id", want: page, mutate: func(v url.Values) { v.Del("client_id") }},
		{name: "scope with extra value", want: page, mutate: func(v url.Values) { v.Set("scope", "openid profile") }},
		{name: "response_type code", want: page, mutate: func(v url.Values) { v.Set("response_type", "code") }},
		{name: "missing lti_message_hint", want: page, mutate: func(v url.Values) { v.Del("lti_message_hint") }},
		{name: "lti_message_hint encoded twice", want: page, mutate: func(v url.Values) {
			v.Set("lti_message_hint", url.QueryEscape(v.Get("lti_message_hint")))
		}},
		{name: "lti_message_hint of an unknown launch", want: page, mutate: func(v url.Values) {
			v.Set("lti_message_hint", `{"cmid":1,"launchid":"ltilaunch1_1"}`)
		}},
		{name: "lti_message_hint as a bare cmid", want: page,
			mutate: func(v url.Values) { v.Set("lti_message_hint", "2") }},

		{name: "lti_message_hint re-encoded", want: "invalid_request|lti_message_hint was altered",
			mutate: func(v url.Values) {
				v.Set("lti_message_hint", strings.ReplaceAll(v.Get("lti_message_hint"), ",", ", "))
			}},
		{name: "other tool's client_id", want: "unauthorized_client",
			mutate: func(v url.Values) { v.Set("client_id", "tool-b") }},
		{name: "login_hint of nobody", want: "access_denied",
			mutate: func(v url.Values) { v.Set("login_hint", "999") }},
		{name: "login_hint of another enrolled user", want: "access_denied",
			mutate: func(v url.Values) { v.Set("login_hint", teacher.ID) }},
		{name: "response_mode query", want: "invalid_request|Invalid response_mode",
			mutate: func(v url.Values) { v.Set("response_mode", "query") }},
		{name: "missing response_mode", want: "invalid_request|Invalid response_mode",
			mutate: func(v url.Values) { v.Del("response_mode") }},
		{name: "prompt login", want: "invalid_request|Invalid prompt",
			mutate: func(v url.Values) { v.Set("prompt", "login") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newAuthSetup(t, p)
			params := s.params
			if tc.mutate != nil {
				tc.mutate(params)
			}
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			res := callAuth(t, s.client, p, method, params)
			if tc.want == page {
				require.Equal(t, http.StatusBadRequest, res.status)
				require.False(t, res.isForm, "nothing may be posted to an unverified redirect uri")
				return
			}
			require.Equal(t, http.StatusOK, res.status)
			require.True(t, res.isForm)
			require.Equal(t, "ltiAuthForm", res.form.id)
			require.Equal(t, params.Get("redirect_uri"), res.form.action)
			require.Equal(t, params.Get("state"), res.form.fields.Get("state"))
			require.True(t, res.form.fields.Has("state"), "Moodle always echoes state")
			if tc.want == "id_token" {
				require.Equal(t, []string{"id_token", "state"}, fieldNames(res.form.fields))
				claims := jwtPayload(t, res.form.fields.Get("id_token"))
				require.Equal(t, "nonce-1", claims["nonce"])
				require.Equal(t, student.ID, claims["sub"])
				return
			}
			code, desc, _ := strings.Cut(tc.want, "|")
			require.Equal(t, code, res.form.fields.Get("error"))
			require.Equal(t, desc, res.form.fields.Get("error_description"))
			require.False(t, res.form.fields.Has("id_token"))
		})
	}
}

func fieldNames(f Form) []string {
	var n []string
	for _, fl := range f {
		n = append(n, fl.Name)
	}
	return n
}

// A launch can be authorized once; replaying the same request fails.
func TestAuthLaunchIsSingleUse(t *testing.T) {
	t.Parallel()
	p := authPlatform(t)
	s := newAuthSetup(t, p)
	first := callAuth(t, s.client, p, http.MethodGet, s.params)
	require.True(t, first.form.fields.Has("id_token"))
	second := callAuth(t, s.client, p, http.MethodGet, s.params)
	require.Equal(t, http.StatusBadRequest, second.status)
	require.False(t, second.isForm)
}

// A launch prepared for one user cannot be completed by another, even with
// a matching login_hint.
func TestAuthLaunchBelongsToItsUser(t *testing.T) {
	t.Parallel()
	p := authPlatform(t)
	s := newAuthSetup(t, p)
	params := s.params
	params.Set("login_hint", teacher.ID)
	res := callAuth(t, loggedInClient(t, p, teacher), p, http.MethodGet, params)
	require.Equal(t, "access_denied", res.form.fields.Get("error"))
}

// Without a session Moodle first re-posts the request to itself (its
// SameSite work-around); still without a session the launch is denied.
func TestAuthWithoutSession(t *testing.T) {
	t.Parallel()
	p := authPlatform(t)
	s := newAuthSetup(t, p)
	anon := newBrowser(t, p).client()
	res := callAuth(t, anon, p, http.MethodPost, s.params)
	require.Equal(t, http.StatusOK, res.status)
	require.Equal(t, "repost", res.form.id)
	require.Equal(t, p.Issuer()+"/mod/lti/auth.php", res.form.action)
	require.Equal(t, "true", res.form.fields.Get("repost"))
	require.Equal(t, s.params.Get("lti_message_hint"), res.form.fields.Get("lti_message_hint"))

	reposted := url.Values{}
	for _, f := range res.form.fields {
		reposted.Add(f.Name, f.Value)
	}
	again := callAuth(t, anon, p, http.MethodPost, reposted)
	require.Equal(t, "ltiAuthForm", again.form.id)
	require.Equal(t, "access_denied", again.form.fields.Get("error"))
}

// Hostile state values come back unchanged and do not break out of the
// page.
func TestAuthEchoesHostileState(t *testing.T) {
	t.Parallel()
	p := authPlatform(t)
	for _, state := range []string{`"><script>alert(1)</script>`, "a&b=c", "é ' \" <"} {
		s := newAuthSetup(t, p)
		s.params.Set("state", state)
		res := callAuth(t, s.client, p, http.MethodGet, s.params)
		require.Equal(t, state, res.form.fields.Get("state"))
		require.True(t, res.form.fields.Has("id_token"))
	}
}
