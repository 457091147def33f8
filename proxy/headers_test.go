package proxy_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/proxy"
)

// isHubCookie is the StripCookie the tests use.
func isHubCookie(name string) bool {
	switch name {
	case "jupyterhub-hub-login", "jupyterhub-session-id", "labhub-session":
		return true
	}
	return false
}

// TestStripsHubCookies checks that hub cookies never reach the container and
// that every other cookie arrives intact and in order.
func TestStripsHubCookies(t *testing.T) {
	t.Parallel()
	table := proxy.NewTable()
	up := newEcho(t, "u")
	table.Set("alice", "c", mustURL(t, up.URL), "k")
	srv := front(t, proxy.New(proxy.Options{Table: table, StripCookie: isHubCookie}))
	addr := srv.Listener.Addr().String()

	tests := []struct {
		name  string
		lines []string
		// want is the Cookie header the container sees; nil means none.
		want []string
	}{
		{name: "no cookie", lines: nil, want: nil},
		{name: "only hub cookies", lines: []string{"jupyterhub-session-id=s; labhub-session=x"}, want: nil},
		{name: "mixed keeps order", lines: []string{"a=1; jupyterhub-session-id=s; b=2; labhub-session=x; c=3"}, want: []string{"a=1; b=2; c=3"}},
		{name: "server cookie kept", lines: []string{"jupyterhub-user-alice-c=tok; labhub-session=x; _xsrf=2|abc"}, want: []string{"jupyterhub-user-alice-c=tok; _xsrf=2|abc"}},
		{name: "nothing stripped stays byte for byte", lines: []string{"a=1;b=2;  c=\"q; r\""}, want: []string{"a=1;b=2;  c=\"q; r\""}},
		{name: "quoted value with equals", lines: []string{`a="x=y"; labhub-session=1`}, want: []string{`a="x=y"`}},
		{name: "space before equals", lines: []string{"jupyterhub-session-id =s; x=1"}, want: []string{"x=1"}},
		{name: "latin-1 no-break space before equals", lines: []string{"jupyterhub-hub-login\xa0=v; y=2"}, want: []string{"y=2"}},
		{name: "latin-1 next-line around name", lines: []string{"x=1;\x85labhub-session\x85=v"}, want: []string{"x=1"}},
		{name: "hub cookie without value", lines: []string{"jupyterhub-session-id; z=3"}, want: []string{"z=3"}},
		{name: "look-alike names kept", lines: []string{"jupyterhub-session-idx=1; Jupyterhub-Session-Id=2; xlabhub-session=3"}, want: []string{"jupyterhub-session-idx=1; Jupyterhub-Session-Id=2; xlabhub-session=3"}},
		{name: "several lines joined", lines: []string{"a=1", "labhub-session=x", "b=2"}, want: []string{"a=1; b=2"}},
		{name: "several hub-only lines", lines: []string{"labhub-session=x", "jupyterhub-session-id=y"}, want: nil},
		{name: "empty parts", lines: []string{";;a=1;; labhub-session=x;"}, want: []string{"a=1"}},
		{name: "only separators", lines: []string{"; ;"}, want: nil},
		{name: "hub cookie repeated", lines: []string{"labhub-session=a; k=v; labhub-session=b"}, want: []string{"k=v"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var headers []string
			for _, l := range tc.lines {
				headers = append(headers, "Cookie: "+l)
			}
			res, body := get(t, addr, "/user/alice/c/", headers...)
			require.Equal(t, http.StatusOK, res.StatusCode)
			got, present := decodeSeen(t, body).Header["Cookie"]
			if tc.want == nil {
				require.False(t, present, "no Cookie header may reach the server, got %q", got)
				return
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// TestPassesClientHeaders checks that headers Jupyter relies on arrive
// unchanged and that response headers, CORS included, come back unchanged.
func TestPassesClientHeaders(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range []string{"Authorization", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-Dest", "Origin", "Referer", "X-Xsrftoken"} {
			w.Header().Set("Echo-"+h, r.Header.Get(h))
		}
		w.Header().Set("Echo-Query", r.URL.RawQuery)
		w.Header().Set("Access-Control-Allow-Origin", "https://lms.example")
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Set("Content-Security-Policy", "frame-ancestors 'self' https://lms.example")
		w.Header().Add("Set-Cookie", "jupyterhub-user-alice-c=tok; Path=/user/alice/c/; HttpOnly")
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(up.Close)
	table := proxy.NewTable()
	table.Set("alice", "c", mustURL(t, up.URL), "k")
	srv := front(t, proxy.New(proxy.Options{Table: table, StripCookie: isHubCookie}))

	res, _ := get(t, srv.Listener.Addr().String(), "/user/alice/c/api/contents?token=abc%2Fdef&x=1",
		"Authorization: token abc",
		"Sec-Fetch-Mode: cors",
		"Sec-Fetch-Site: same-origin",
		"Sec-Fetch-Dest: empty",
		"Origin: https://labhub.example",
		"Referer: https://labhub.example/user/alice/c/lab",
		"X-XSRFToken: 2|xyz")
	require.Equal(t, http.StatusCreated, res.StatusCode)
	want := map[string]string{
		"Echo-Authorization":               "token abc",
		"Echo-Sec-Fetch-Mode":              "cors",
		"Echo-Sec-Fetch-Site":              "same-origin",
		"Echo-Sec-Fetch-Dest":              "empty",
		"Echo-Origin":                      "https://labhub.example",
		"Echo-Referer":                     "https://labhub.example/user/alice/c/lab",
		"Echo-X-Xsrftoken":                 "2|xyz",
		"Echo-Query":                       "token=abc%2Fdef&x=1",
		"Access-Control-Allow-Origin":      "https://lms.example",
		"Access-Control-Allow-Credentials": "true",
		"Content-Security-Policy":          "frame-ancestors 'self' https://lms.example",
		"Set-Cookie":                       "jupyterhub-user-alice-c=tok; Path=/user/alice/c/; HttpOnly",
	}
	for k, v := range want {
		require.Equal(t, v, res.Header.Get(k), k)
	}
	_, xfo := res.Header["X-Frame-Options"]
	require.False(t, xfo, "the proxy must not add X-Frame-Options")
}

// TestForwardedHeaders checks that forwarding headers from untrusted clients
// are replaced and those from a trusted front are kept.
func TestForwardedHeaders(t *testing.T) {
	t.Parallel()
	spoofed := []string{
		"X-Forwarded-For: 203.0.113.7, 10.0.0.1",
		"X-Forwarded-Host: evil.example",
		"X-Forwarded-Proto: https",
		"X-Forwarded-Port: 1",
		"Forwarded: for=203.0.113.7;proto=https",
		"X-Real-IP: 203.0.113.9",
		"X-Scheme: https",
	}
	tests := []struct {
		name    string
		trusted bool
		headers []string
		// want maps header to expected value; "" means absent.
		want map[string]string
	}{
		{
			name:    "untrusted spoofing",
			headers: append([]string{"Host: labhub.example:8443"}, spoofed...),
			want: map[string]string{
				"X-Forwarded-For":   "127.0.0.1",
				"X-Forwarded-Host":  "labhub.example:8443",
				"X-Forwarded-Proto": "http",
				"X-Forwarded-Port":  "8443",
				"Forwarded":         "",
				"X-Real-Ip":         "",
				"X-Scheme":          "",
			},
		},
		{
			name:    "untrusted without port",
			headers: []string{"Host: labhub.example", "x-forwarded-for: 1.2.3.4", "X-Forwarded-For: 5.6.7.8"},
			want: map[string]string{
				"X-Forwarded-For":   "127.0.0.1",
				"X-Forwarded-Host":  "labhub.example",
				"X-Forwarded-Proto": "http",
				"X-Forwarded-Port":  "80",
			},
		},
		{
			name:    "trusted front keeps its headers",
			trusted: true,
			headers: append([]string{"Host: labhub.example"}, spoofed...),
			want: map[string]string{
				"X-Forwarded-For":   "203.0.113.7, 10.0.0.1",
				"X-Forwarded-Host":  "evil.example",
				"X-Forwarded-Proto": "https",
				"X-Forwarded-Port":  "1",
				"Forwarded":         "for=203.0.113.7;proto=https",
				"X-Real-Ip":         "203.0.113.9",
				"X-Scheme":          "https",
			},
		},
		{
			name:    "trusted front without headers",
			trusted: true,
			headers: []string{"Host: labhub.example:8000"},
			want: map[string]string{
				"X-Forwarded-For":   "127.0.0.1",
				"X-Forwarded-Host":  "labhub.example:8000",
				"X-Forwarded-Proto": "http",
				"X-Forwarded-Port":  "8000",
			},
		},
		{
			name:    "trusted front with proto only",
			trusted: true,
			headers: []string{"Host: labhub.example", "X-Forwarded-Proto: https"},
			want: map[string]string{
				"X-Forwarded-For":   "127.0.0.1",
				"X-Forwarded-Host":  "labhub.example",
				"X-Forwarded-Proto": "https",
				"X-Forwarded-Port":  "80",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			table := proxy.NewTable()
			up := newEcho(t, "u")
			table.Set("alice", "c", mustURL(t, up.URL), "k")
			var peer string
			srv := front(t, proxy.New(proxy.Options{
				Table: table,
				TrustedProxy: func(remoteAddr string) bool {
					peer = remoteAddr
					return tc.trusted
				},
			}))
			res, body := get(t, srv.Listener.Addr().String(), "/user/alice/c/", tc.headers...)
			require.Equal(t, http.StatusOK, res.StatusCode)
			host, _, err := net.SplitHostPort(peer)
			require.NoError(t, err)
			require.Equal(t, "127.0.0.1", host, "TrustedProxy must get the peer address")
			h := decodeSeen(t, body).Header
			for k, v := range tc.want {
				if v == "" {
					_, present := h[k]
					require.False(t, present, "%s must be removed, got %q", k, h[k])
					continue
				}
				require.Equal(t, []string{v}, h[k], k)
			}
		})
	}
}
