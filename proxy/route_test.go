package proxy_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/proxy"
)

// TestRouting checks which handler each path reaches and that the container
// receives the request-target exactly as the client sent it.
func TestRouting(t *testing.T) {
	t.Parallel()
	table := proxy.NewTable()
	routes := []struct{ user, server string }{
		{"alice", "c"},
		{"alice", "c2"},
		{"al", "c"},
		{"a/b", "c"},
		{"a@b.org", "c"},
		{"Ann Smith", "c"},
		{"José", "c"},
		{"bob", "physics 101"},
		{"bob", "x%2Fy"},
	}
	for _, r := range routes {
		up := newEcho(t, r.user+"|"+r.server)
		table.Set(r.user, r.server, mustURL(t, up.URL), "key-"+r.user)
	}
	srv := front(t, proxy.New(proxy.Options{Table: table, Fallback: fallbackHandler()}))
	addr := srv.Listener.Addr().String()

	tests := []struct {
		name   string
		target string
		// want is "user|server" of the upstream that must answer, or
		// "fallback".
		want string
		// requested is the "user|server" RequestedServer reports to the
		// fallback, or "" when the path names no server.
		requested string
		// status, if set, is the expected status when nobody answers.
		status int
	}{
		{name: "plain", target: "/user/alice/c/lab?x=1", want: "alice|c"},
		{name: "root of server", target: "/user/alice/c/", want: "alice|c"},
		{name: "longer server name not confused", target: "/user/alice/c2/api", want: "alice|c2"},
		{name: "shorter user name not confused", target: "/user/al/c/tree", want: "al|c"},
		{name: "encoded slash in user", target: "/user/a%2Fb/c/api/contents/x%2Fy?token=t", want: "a/b|c"},
		{name: "literal slash splits names", target: "/user/a/b/c/", want: "fallback", requested: "a|b"},
		{name: "literal at sign", target: "/user/a@b.org/c/", want: "a@b.org|c"},
		{name: "encoded at sign", target: "/user/a%40b.org/c/", want: "a@b.org|c"},
		{name: "encoded space", target: "/user/Ann%20Smith/c/?q=a%20b", want: "Ann Smith|c"},
		{name: "unicode upper-case hex", target: "/user/Jos%C3%A9/c/tree/%C3%A9.ipynb", want: "José|c"},
		{name: "unicode lower-case hex", target: "/user/Jos%c3%a9/c/", want: "José|c"},
		{name: "space in server", target: "/user/bob/physics%20101/", want: "bob|physics 101"},
		{name: "server named with escaped percent", target: "/user/bob/x%252Fy/", want: "bob|x%2Fy"},
		{name: "encoded user segment keyword", target: "/%75ser/alice/c/", want: "alice|c"},
		{name: "query with semicolon and bad escape", target: "/user/alice/c/api?a=1;b=2&c=%zz&token=abc", want: "alice|c"},
		{name: "dot segments after server stay with the server", target: "/user/alice/c/../../bob/physics%20101/", want: "alice|c"},
		{name: "encoded slashes after server", target: "/user/alice/c/..%2F..%2Fal%2Fc%2F", want: "alice|c"},
		{name: "websocket path", target: "/user/alice/c/api/kernels/k1/channels?session_id=s", want: "alice|c"},

		{name: "unknown user", target: "/user/alicex/c/", want: "fallback", requested: "alicex|c"},
		{name: "unknown server", target: "/user/alice/c3/", want: "fallback", requested: "alice|c3"},
		{name: "prefix of user name", target: "/user/ali/c/", want: "fallback", requested: "ali|c"},
		{name: "hub page", target: "/hub/home", want: "fallback"},
		{name: "root", target: "/", want: "fallback"},
		{name: "default server", target: "/user/alice/", want: "fallback"},
		{name: "user list", target: "/user/", want: "fallback"},
		{name: "case of keyword", target: "/USER/alice/c/", want: "fallback"},
		{name: "plural keyword", target: "/users/alice/c/", want: "fallback"},
		{name: "empty user", target: "/user//alice/c/", want: "fallback"},
		{name: "empty server", target: "/user/alice//c/", want: "fallback"},
		{name: "dot user", target: "/user/./c/", want: "fallback"},
		{name: "encoded dot-dot user", target: "/user/%2E%2E/c/", want: "fallback"},
		{name: "dot-dot server", target: "/user/alice/../", want: "fallback"},
		// net/http refuses invalid escapes before any handler runs.
		{name: "invalid escape in user", target: "/user/al%zzice/c/", want: "", status: http.StatusBadRequest},
		{name: "truncated escape in server", target: "/user/alice/c%2/", want: "", status: http.StatusBadRequest},
		{name: "double slash start", target: "//user/alice/c/", want: "fallback"},
		{name: "encoded slash inside keyword segment", target: "/user%2Falice/c/x/", want: "fallback"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, body := get(t, addr, tc.target, "Host: labhub.test")
			require.Equal(t, tc.want, res.Header.Get("X-Upstream"), "body: %s", body)
			if tc.status != 0 {
				require.Equal(t, tc.status, res.StatusCode)
				return
			}
			if tc.want == "fallback" {
				got := ""
				if u := res.Header.Get("X-Requested-User"); u != "" {
					got = u + "|" + res.Header.Get("X-Requested-Server")
				}
				require.Equal(t, tc.requested, got)
				return
			}
			require.Equal(t, http.StatusOK, res.StatusCode)
			s := decodeSeen(t, body)
			require.Equal(t, tc.target, s.RequestURI, "request-target must reach the server unchanged")
			require.Equal(t, "labhub.test", s.Host, "Host must be the client's")
		})
	}
}

// TestPrefix checks routing under a base URL.
func TestPrefix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		prefix string
		target string
		want   string
	}{
		{name: "base with slashes", prefix: "/base/", target: "/base/user/alice/c/x", want: "alice|c"},
		{name: "base without slashes", prefix: "base", target: "/base/user/alice/c/", want: "alice|c"},
		{name: "nested base", prefix: "/a/b/", target: "/a/b/user/alice/c/", want: "alice|c"},
		{name: "encoded base", prefix: "/my%20hub/", target: "/my%20hub/user/alice/c/", want: "alice|c"},
		{name: "empty prefix is root", prefix: "", target: "/user/alice/c/", want: "alice|c"},
		{name: "missing base", prefix: "/base/", target: "/user/alice/c/", want: "fallback"},
		{name: "other base", prefix: "/base/", target: "/bass/user/alice/c/", want: "fallback"},
		{name: "base joined by encoded slash", prefix: "/base/", target: "/base%2Fuser/alice/c/", want: "fallback"},
		{name: "partial nested base", prefix: "/a/b/", target: "/a/user/alice/c/", want: "fallback"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			table := proxy.NewTable()
			up := newEcho(t, "alice|c")
			table.Set("alice", "c", mustURL(t, up.URL), "k")
			srv := front(t, proxy.New(proxy.Options{Prefix: tc.prefix, Table: table, Fallback: fallbackHandler()}))
			res, body := get(t, srv.Listener.Addr().String(), tc.target)
			require.Equal(t, tc.want, res.Header.Get("X-Upstream"))
			if tc.want != "fallback" {
				require.Equal(t, tc.target, decodeSeen(t, body).RequestURI)
			}
		})
	}
}

// TestRedirectsBareServerURL checks the 301 to the slash form, which does
// not depend on whether the server runs.
func TestRedirectsBareServerURL(t *testing.T) {
	t.Parallel()
	table := proxy.NewTable()
	up := newEcho(t, "alice|c")
	table.Set("alice", "c", mustURL(t, up.URL), "k")
	table.Set("a/b", "c", mustURL(t, up.URL), "k")
	root := front(t, proxy.New(proxy.Options{Table: table, Fallback: fallbackHandler()}))
	based := front(t, proxy.New(proxy.Options{Prefix: "/base/", Table: table, Fallback: fallbackHandler()}))

	tests := []struct {
		name     string
		srv      string
		method   string
		target   string
		location string
	}{
		{name: "running server", srv: "root", method: "GET", target: "/user/alice/c", location: "/user/alice/c/"},
		{name: "query kept", srv: "root", method: "GET", target: "/user/alice/c?token=abc&x=%20;y", location: "/user/alice/c/?token=abc&x=%20;y"},
		{name: "escaped names kept", srv: "root", method: "GET", target: "/user/a%2Fb/c", location: "/user/a%2Fb/c/"},
		{name: "stopped server", srv: "root", method: "GET", target: "/user/nobody/c", location: "/user/nobody/c/"},
		{name: "post", srv: "root", method: "POST", target: "/user/alice/c", location: "/user/alice/c/"},
		{name: "under base", srv: "based", method: "GET", target: "/base/user/alice/c?a=1", location: "/base/user/alice/c/?a=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr := root.Listener.Addr().String()
			if tc.srv == "based" {
				addr = based.Listener.Addr().String()
			}
			res, _ := rawRequest(t, addr, tc.method+" "+tc.target+" HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n")
			require.Equal(t, http.StatusMovedPermanently, res.StatusCode)
			require.Equal(t, tc.location, res.Header.Get("Location"))
			require.Empty(t, res.Header.Get("X-Upstream"), "neither the server nor the fallback may answer")
		})
	}
}

// TestFallbackDefault checks that without a Fallback unmatched requests get
// 404.
func TestFallbackDefault(t *testing.T) {
	t.Parallel()
	srv := front(t, proxy.New(proxy.Options{Table: proxy.NewTable()}))
	for _, target := range []string{"/hub/home", "/user/alice/c/"} {
		res, _ := get(t, srv.Listener.Addr().String(), target)
		require.Equal(t, http.StatusNotFound, res.StatusCode, target)
	}
}
