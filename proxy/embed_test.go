package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/proxy"
)

// jupyterLike answers like jupyter_server behind JupyterHub: a CSP that
// only lets the server frame itself, and its cookies.
func jupyterLike(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "frame-ancestors 'self'; report-uri /hub/security/csp-report")
		h.Set("X-Frame-Options", "SAMEORIGIN")
		h.Add("Set-Cookie", "_xsrf=2|abc; Path=/user/alice/c/; SameSite=Lax")
		h.Add("Set-Cookie", "jupyterhub-user-alice=tok; HttpOnly; Path=/user/alice/c/; secure; samesite=strict")
		if r.URL.Path == "/user/alice/c/plain" {
			h.Del("Content-Security-Policy")
		}
		w.Write([]byte("notebook"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// An LMS page may frame notebook pages: the CSP names the registered LMSs,
// X-Frame-Options is gone, and over HTTPS the server's cookies work in the
// frame.
func TestEmbeddingHeaders(t *testing.T) {
	up := jupyterLike(t)
	table := proxy.NewTable()
	table.Set("alice", "c", mustURL(t, up.URL), "k")
	srv := front(t, proxy.New(proxy.Options{Table: table, CrossSiteCookies: true,
		FrameAncestors: func() []string { return []string{"https://moodle.example.edu", "https://school.instructure.com"} }}))
	res, body := get(t, srv.Listener.Addr().String(), "/user/alice/c/tree")
	require.Equal(t, "notebook", body)
	require.Equal(t, []string{"frame-ancestors 'self' https://moodle.example.edu https://school.instructure.com; " +
		"report-uri /hub/security/csp-report"}, res.Header.Values("Content-Security-Policy"))
	require.Empty(t, res.Header.Get("X-Frame-Options"))
	require.Equal(t, []string{
		"_xsrf=2|abc; Path=/user/alice/c/; Secure; SameSite=None; Partitioned",
		"jupyterhub-user-alice=tok; HttpOnly; Path=/user/alice/c/; Secure; SameSite=None; Partitioned",
	}, res.Header.Values("Set-Cookie"))

	// A page without a policy gets one: framing is never left open.
	res, _ = get(t, srv.Listener.Addr().String(), "/user/alice/c/plain")
	require.Equal(t, "frame-ancestors 'self' https://moodle.example.edu https://school.instructure.com",
		res.Header.Get("Content-Security-Policy"))
}

// Without the options the proxy passes the headers through.
func TestEmbeddingHeadersOff(t *testing.T) {
	up := jupyterLike(t)
	table := proxy.NewTable()
	table.Set("alice", "c", mustURL(t, up.URL), "k")
	srv := front(t, proxy.New(proxy.Options{Table: table}))
	res, _ := get(t, srv.Listener.Addr().String(), "/user/alice/c/tree")
	require.Equal(t, "frame-ancestors 'self'; report-uri /hub/security/csp-report", res.Header.Get("Content-Security-Policy"))
	require.Equal(t, "SAMEORIGIN", res.Header.Get("X-Frame-Options"))
	require.Equal(t, "_xsrf=2|abc; Path=/user/alice/c/; SameSite=Lax", res.Header.Values("Set-Cookie")[0])
}
