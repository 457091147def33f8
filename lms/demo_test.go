package lms

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// newDemoPlatform serves a platform whose issuer has the path /demo, as in
// `labhub demo`.
func newDemoPlatform(t *testing.T) (*Platform, string) {
	t.Helper()
	p, err := New(Options{})
	require.NoError(t, err)
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	p.SetIssuer(srv.URL + "/demo/")
	return p, srv.URL
}

func TestDemoPage(t *testing.T) {
	t.Parallel()
	p, base := newDemoPlatform(t)
	require.Equal(t, base+"/demo", p.Issuer())
	page := func() string {
		status, h, body := do(t, nil, mustRequest(t, http.MethodGet, base+"/demo", ""))
		require.Equal(t, 200, status)
		require.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))
		return body
	}
	require.Contains(t, page(), "No tool registered")
	require.NotContains(t, page(), "Launch as student")

	tool := newFakeTool(t)
	reg := tool.registration("demo-client")
	reg.ConsumerKey, reg.SharedSecret = "", ""
	p.AddTool(reg)
	body := page()
	require.Contains(t, body, "<h1>Demo course</h1>")
	require.Contains(t, body, "Launch as student")
	require.Contains(t, body, "Launch as instructor")
	require.Contains(t, body, `action="/demo/launch"`)
	require.NotContains(t, body, `action="/demo/lti11"`, "no LTI 1.1 buttons without an LTI 1.1 registration")

	p.AddTool(tool.registration("demo-client"))
	require.Contains(t, page(), `action="/demo/lti11"`)
}

// The demo buttons go through the real protocol: the launch below is
// completed by hand, as a browser would, from the demo page's answer.
func TestDemoLaunchLTI13(t *testing.T) {
	t.Parallel()
	p, base := newDemoPlatform(t)
	tool := newFakeTool(t)
	p.AddTool(tool.registration("demo-client"))
	b := newBrowser(t, p)
	follow := &http.Client{Jar: b.Client.Jar}

	resp, err := follow.PostForm(base+"/demo/launch", url.Values{"as": {"student"}})
	require.NoError(t, err)
	pf, ok := readForm(resp)
	resp.Body.Close()
	require.True(t, ok)
	require.Equal(t, "ltiInitiateLoginForm", pf.id)
	require.Equal(t, tool.srv.URL+"/login", pf.action)
	require.Equal(t, []string{"iss", "target_link_uri", "login_hint", "lti_message_hint", "client_id", "lti_deployment_id"},
		fieldNames(pf.fields))
	require.Equal(t, p.Issuer(), pf.fields.Get("iss"))
	require.Equal(t, DemoStudent().ID, pf.fields.Get("login_hint"))
	require.Regexp(t, `^\{"cmid":\d+,"launchid":"ltilaunch1_\d+"\}$`, pf.fields.Get("lti_message_hint"))

	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			cookie = c
		}
	}
	require.NotNil(t, cookie)
	require.Equal(t, "/demo", cookie.Path)
	require.True(t, cookie.HttpOnly)

	// Post the login initiation; the tool redirects to auth.php, whose
	// answer is posted back to the tool.
	resp, err = follow.PostForm(pf.action, pf.fields.Values())
	require.NoError(t, err)
	auth, ok := readForm(resp)
	resp.Body.Close()
	require.True(t, ok)
	require.Equal(t, "ltiAuthForm", auth.id)
	final, err := b.post(ctxT(t), auth.action, auth.fields)
	require.NoError(t, err)
	final.Body.Close()
	claims := jwtPayload(t, tool.lastLaunch(t).Get("id_token"))
	require.Equal(t, DemoStudent().ID, claims["sub"])
	require.Equal(t, []any{RoleLearner}, claims[ClaimRoles])
	require.Equal(t, "Demo course", claims[ClaimContext].(map[string]any)["title"])
	require.Equal(t, p.Issuer(), claims["iss"])
}

func TestDemoLaunchLTI11(t *testing.T) {
	t.Parallel()
	p, base := newDemoPlatform(t)
	tool := newFakeTool(t)
	reg := tool.registration("demo-client")
	p.AddTool(reg)
	status, _, body := do(t, nil, mustRequest(t, http.MethodPost, base+"/demo/lti11", "as=instructor"))
	require.Equal(t, 200, status)
	pf, err := parseFirstForm(body)
	require.NoError(t, err)
	require.Equal(t, "ltiLaunchForm", pf.id)
	require.Equal(t, reg.LTI11LaunchURL, pf.action)
	require.Equal(t, "Instructor", pf.fields.Get("roles"))
	require.Equal(t, p.Issuer()+"/mod/lti/service.php", pf.fields.Get("lis_outcome_service_url"))
	sig, err := OAuthSignature("POST", pf.action, pf.fields, reg.SharedSecret)
	require.NoError(t, err)
	require.Equal(t, pf.fields.Get("oauth_signature"), sig)
}

func TestDemoRefusals(t *testing.T) {
	t.Parallel()
	p, base := newDemoPlatform(t)
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"launch without a tool", "POST", "/demo/launch", "as=student", 404},
		{"lti 1.1 without a tool", "POST", "/demo/lti11", "as=student", 404},
		{"unknown account", "POST", "/demo/launch", "as=admin", 400},
		{"no account", "POST", "/demo/launch", "", 400},
		{"GET on a button", "GET", "/demo/launch", "", 405},
		{"outside the issuer path", "GET", "/mod/lti/certs.php", "", 404},
		{"issuer path as a prefix only", "GET", "/demox/mod/lti/certs.php", "", 404},
		{"escaped slash into the prefix", "GET", "/demo%2Fmod/lti/certs.php", "", 404},
		{"page with trailing slash", "GET", "/demo/", "", 200},
		{"certs under the issuer", "GET", "/demo/mod/lti/certs.php", "", 200},
		{"unknown endpoint", "GET", "/demo/mod/lti/nothing.php", "", 404},
	} {
		status, _, _ := do(t, nil, mustRequest(t, tc.method, base+tc.path, tc.body))
		require.Equal(t, tc.want, status, tc.name)
	}
	tool := newFakeTool(t)
	reg := tool.registration("c")
	reg.ConsumerKey = ""
	p.AddTool(reg)
	status, _, _ := do(t, nil, mustRequest(t, http.MethodPost, base+"/demo/lti11", "as=student"))
	require.Equal(t, 404, status)
}

func mustRequest(t *testing.T, method, u, form string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(form))
	require.NoError(t, err)
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}

// The demo page's "Add an activity" starts deep linking as the instructor;
// the activity the tool returns appears on the page and launches with its
// custom parameters.
func TestDemoAddActivity(t *testing.T) {
	t.Parallel()
	p, base := newDemoPlatform(t)
	tool := newFakeTool(t)
	reg := tool.registration("demo-client")
	p.AddTool(reg)
	b := newBrowser(t, p)
	follow := &http.Client{Jar: b.Client.Jar}

	resp, err := follow.PostForm(base+"/demo/add-activity", nil)
	require.NoError(t, err)
	pf, ok := readForm(resp)
	resp.Body.Close()
	require.True(t, ok)
	require.Equal(t, "ltiInitiateLoginForm", pf.id)
	require.Equal(t, DemoInstructor().ID, pf.fields.Get("login_hint"))
	require.Contains(t, pf.fields.Get("lti_message_hint"), "ContentItemSelectionRequest")
	resp, err = follow.PostForm(pf.action, pf.fields.Values())
	require.NoError(t, err)
	auth, ok := readForm(resp)
	resp.Body.Close()
	require.True(t, ok)
	final, err := b.post(ctxT(t), auth.action, auth.fields)
	require.NoError(t, err)
	final.Body.Close()
	idToken := tool.lastLaunch(t).Get("id_token")
	returnURL := verifyIDToken2(t, p, idToken)
	deployment, _ := jwtPayload(t, idToken)[ClaimDeploymentID].(string)

	item := map[string]any{"type": "ltiResourceLink", "title": "Week 2 lab",
		"custom": map[string]any{"labhub_start": "week2"}}
	resp, err = b.Client.PostForm(returnURL, url.Values{"JWT": {deepLinkResponse(t, tool, "demo-client", p.Issuer(),
		deployment, []map[string]any{item})}})
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(t, string(body), `href="/demo/"`, "a way back to the course")

	_, _, page := do(t, nil, mustRequest(t, http.MethodGet, base+"/demo", ""))
	require.Contains(t, page, "Week 2 lab (LTI 1.3, added with the picker)")
	id := p.DeepLinked()[0].Link.ID
	require.Contains(t, page, `name="link" value="`+id+`"`)

	resp, err = follow.PostForm(base+"/demo/launch", url.Values{"as": {"student"}, "link": {id}})
	require.NoError(t, err)
	pf, ok = readForm(resp)
	resp.Body.Close()
	require.True(t, ok)
	resp, err = follow.PostForm(pf.action, pf.fields.Values())
	require.NoError(t, err)
	auth, ok = readForm(resp)
	resp.Body.Close()
	require.True(t, ok)
	final, err = b.post(ctxT(t), auth.action, auth.fields)
	require.NoError(t, err)
	final.Body.Close()
	claims := jwtPayload(t, tool.lastLaunch(t).Get("id_token"))
	require.Equal(t, "week2", claims[ClaimCustom].(map[string]any)["labhub_start"])

	status, _, _ := do(t, nil, mustRequest(t, http.MethodPost, base+"/demo/launch", "as=student&link=999"))
	require.Equal(t, http.StatusNotFound, status)
}
