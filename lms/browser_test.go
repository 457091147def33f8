package lms

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBrowserLaunchLTI13(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		loginByPost bool
	}{
		{"tool redirects to the auth endpoint", false},
		{"tool posts a form to the auth endpoint", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, _ := newTestPlatform(t, Options{})
			tool := newFakeTool(t)
			tool.loginByPost = tc.loginByPost
			p.AddTool(tool.registration("client-1"))
			b := newBrowser(t, p)

			resp, err := b.LaunchLTI13(ctxT(t), student, course, link, "client-1")
			require.NoError(t, err)
			defer resp.Body.Close()
			// The tool's redirect after the launch is handed back, not followed.
			require.Equal(t, http.StatusFound, resp.StatusCode)
			require.Equal(t, "/user/student1/course/", resp.Header.Get("Location"))
			require.Equal(t, tool.srv.URL+"/launch", resp.Request.URL.String())

			posted := tool.lastLaunch(t)
			require.NotEmpty(t, posted.Get("id_token"))
			tool.mu.Lock()
			_, known := tool.states[posted.Get("state")]
			tool.mu.Unlock()
			require.True(t, known, "state must come back unchanged")
			claims := jwtPayload(t, posted.Get("id_token"))
			require.Equal(t, student.ID, claims["sub"])

			// The platform session is in the jar, scoped to the platform.
			iss, err := url.Parse(p.Issuer())
			require.NoError(t, err)
			var names []string
			for _, c := range b.Client.Jar.Cookies(iss) {
				names = append(names, c.Name)
			}
			require.Contains(t, names, SessionCookie)
		})
	}
}

// An error from the auth endpoint reaches the tool as a form post too.
func TestBrowserLaunchLTI13DeliversAuthErrors(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	tool := newFakeTool(t)
	tool.authMutate = func(v url.Values) { v.Set("prompt", "consent") }
	p.AddTool(tool.registration("client-1"))
	resp, err := newBrowser(t, p).LaunchLTI13(ctxT(t), student, course, link, "client-1")
	require.NoError(t, err)
	resp.Body.Close()
	posted := tool.lastLaunch(t)
	require.Equal(t, "invalid_request", posted.Get("error"))
	require.Equal(t, "Invalid prompt", posted.Get("error_description"))
	require.Empty(t, posted.Get("id_token"))
}

// When the launch stops before the tool's launch endpoint, the caller gets
// the response it stopped at and ErrLaunchIncomplete.
func TestBrowserLaunchLTI13Incomplete(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		setup      func(*fakeTool)
		wantStatus int
		wantBody   string
	}{
		{"tool refuses the login", func(f *fakeTool) { f.loginStatus = http.StatusForbidden }, 403, "login refused"},
		{"tool sends an unregistered redirect uri", func(f *fakeTool) {
			f.authMutate = func(v url.Values) { v.Set("redirect_uri", f.srv.URL+"/elsewhere") }
		}, 400, "redirect URI is not registered"},
		{"tool mangles the message hint", func(f *fakeTool) {
			f.authMutate = func(v url.Values) { v.Set("lti_message_hint", "x"+v.Get("lti_message_hint")) }
		}, 400, "Invalid request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, _ := newTestPlatform(t, Options{})
			tool := newFakeTool(t)
			tc.setup(tool)
			p.AddTool(tool.registration("client-1"))
			resp, err := newBrowser(t, p).LaunchLTI13(ctxT(t), student, course, link, "client-1")
			require.ErrorIs(t, err, ErrLaunchIncomplete)
			require.NotNil(t, resp)
			defer resp.Body.Close()
			require.Equal(t, tc.wantStatus, resp.StatusCode)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Contains(t, string(body), tc.wantBody)
			tool.mu.Lock()
			require.Empty(t, tool.launches)
			tool.mu.Unlock()
		})
	}
}

func TestBrowserLaunchErrors(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	tool := newFakeTool(t)
	p.AddTool(tool.registration("client-1"))
	noJar := &Browser{Client: &http.Client{}, Platform: p}
	_, err := noJar.LaunchLTI13(ctxT(t), student, course, link, "client-1")
	require.ErrorContains(t, err, "cookie jar")
	_, err = newBrowser(t, p).LaunchLTI13(ctxT(t), student, course, link, "unknown")
	require.ErrorContains(t, err, "no tool")
	require.NotErrorIs(t, err, ErrLaunchIncomplete)
}

func TestBrowserLaunchLTI11(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	tool := newFakeTool(t)
	reg := tool.registration("client-1")
	p.AddTool(reg)
	for _, ref := range []string{"client-1", "client-1-key"} {
		resp, err := newBrowser(t, p).LaunchLTI11(ctxT(t), teacher, course, link, ref)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, "launched", string(body))
	}
	tool.mu.Lock()
	req, form := tool.lti11[1], tool.lti11Forms[1]
	tool.mu.Unlock()
	// The query of the launch URL arrives in the URL only, and the
	// signature covers it.
	require.Equal(t, "moodle", req.URL.Query().Get("from"))
	require.Empty(t, form["from"])
	require.Equal(t, "Instructor", form.Get("roles"))
	var signed Form
	for k, vs := range form {
		for _, v := range vs {
			signed = append(signed, Field{k, v})
		}
	}
	sig, err := OAuthSignature("POST", tool.srv.URL+req.URL.RequestURI(), signed, reg.SharedSecret)
	require.NoError(t, err)
	require.Equal(t, form.Get("oauth_signature"), sig)
	require.True(t, strings.HasPrefix(form.Get("lis_outcome_service_url"), p.Issuer()))
}
