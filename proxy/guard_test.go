package proxy_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/proxy"
)

// A guard sees routed requests, with the hub's cookies, before they are
// forwarded, and can answer them itself.
func TestGuard(t *testing.T) {
	t.Parallel()
	table := proxy.NewTable()
	table.Set("alice", "c", mustURL(t, newEcho(t, "alice|c").URL), "k")
	var seen []string
	guard := func(w http.ResponseWriter, r *http.Request, user, server string) bool {
		ck, _ := r.Cookie("hub")
		seen = append(seen, user+"|"+server+"|"+r.Method+"|"+ck.String())
		if r.Method != http.MethodGet {
			http.Error(w, "read only", http.StatusForbidden)
			return false
		}
		return true
	}
	srv := front(t, proxy.New(proxy.Options{Table: table, Guard: guard, StripCookie: isHubCookie,
		Fallback: fallbackHandler()}))
	addr := srv.Listener.Addr().String()

	resp, body := get(t, addr, "/user/alice/c/api/contents", "Cookie: hub=s1")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "alice|c", decodeSeen(t, body).Upstream)
	resp, body = rawRequest(t, addr, "PUT /user/alice/c/api/contents/x HTTP/1.1\r\nHost: x\r\nCookie: hub=s2\r\nContent-Length: 0\r\n\r\n")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, body, "read only")
	// Requests without a route never reach the guard.
	resp, _ = get(t, addr, "/user/bob/c/")
	require.NotEqual(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, []string{"alice|c|GET|hub=s1", "alice|c|PUT|hub=s2"}, seen)
}
