package proxy

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMatch covers the matcher directly, including escapes that net/http
// refuses before a handler runs but that a request built in-process (a hub
// router calling ServeHTTP) may still carry.
func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		prefix       string
		path         string
		user, server string
		slash, ok    bool
	}{
		{name: "server root", prefix: "/", path: "/user/alice/c/", user: "alice", server: "c", slash: true, ok: true},
		{name: "bare server", prefix: "/", path: "/user/alice/c", user: "alice", server: "c", ok: true},
		{name: "deep path", prefix: "/", path: "/user/alice/c/a/b", user: "alice", server: "c", slash: true, ok: true},
		{name: "encoded slash", prefix: "/", path: "/user/a%2Fb/c%2Fd/", user: "a/b", server: "c/d", slash: true, ok: true},
		{name: "base prefix", prefix: "/hub base/", path: "/hub%20base/user/u/s/", user: "u", server: "s", slash: true, ok: true},
		{name: "invalid prefix matched literally", prefix: "/%zz/", path: "/%25zz/user/u/s/", user: "u", server: "s", slash: true, ok: true},
		{name: "invalid escape in user", prefix: "/", path: "/user/a%zz/c/"},
		{name: "truncated escape in server", prefix: "/", path: "/user/a/c%2"},
		{name: "invalid escape in keyword", prefix: "/", path: "/us%er/a/c/"},
		{name: "relative path", prefix: "/", path: "user/a/c/"},
		{name: "empty", prefix: "/", path: ""},
		{name: "prefix only", prefix: "/base/", path: "/base/"},
		{name: "keyword only", prefix: "/", path: "/user"},
		{name: "user without server", prefix: "/", path: "/user/alice"},
		{name: "encoded dot user", prefix: "/", path: "/user/%2e/c/"},
		{name: "dot-dot server", prefix: "/", path: "/user/a/%2E%2E/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			user, server, slash, ok := newMatcher(tc.prefix).match(tc.path)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.user, user)
			require.Equal(t, tc.server, server)
			require.Equal(t, tc.slash, slash)
		})
	}
}
