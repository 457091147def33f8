package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/account"
	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/store"
)

// A blocked user's sessions and tokens of every kind are refused with a
// 403 that says why, wherever a request is authenticated; another user's
// keep working.
func TestBlockedUserCredentials(t *testing.T) {
	h := newAccountsHub(t, account.Options{Native: true, Policy: &account.Policy{Blocked: account.ParseNames("root")}})
	ctx := context.Background()
	a := auth.New(h.db, h.seal.Derive("cookie", 32), nil)
	type creds struct {
		user                       store.User
		cookie, server, oauth, api string
	}
	issue := func(name string) creds {
		u, server := h.serverToken(name)
		cookie, _, err := a.NewSession(ctx, nil, u.ID, "native")
		require.NoError(t, err)
		oauth, err := a.IssueToken(ctx, nil, store.Token{Kind: store.TokenOAuth, UserID: u.ID})
		require.NoError(t, err)
		api, err := a.IssueToken(ctx, nil, store.Token{Kind: store.TokenAPI, UserID: u.ID})
		require.NoError(t, err)
		return creds{user: u, cookie: cookie, server: server, oauth: oauth, api: api}
	}
	root, alice := issue("root"), issue("alice")

	withCookie := func(method, path, cookie string) (int, string) {
		req, err := http.NewRequest(method, h.hub.URL+path, nil)
		require.NoError(t, err)
		req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: cookie})
		resp, err := h.client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b := make([]byte, 1<<16)
		n, _ := resp.Body.Read(b)
		return resp.StatusCode, string(b[:n])
	}
	for _, path := range []string{"/hub/home", "/hub/api/oauth2/authorize?response_type=code&client_id=x&redirect_uri=y"} {
		status, body := withCookie("GET", path, root.cookie)
		require.Equal(t, http.StatusForbidden, status, path)
		require.Contains(t, body, "blocked_user", path)
	}
	status, _ := withCookie("GET", "/hub/home", alice.cookie)
	require.Equal(t, http.StatusOK, status)
	status, body := withCookie("GET", "/hub/api/users/root/servers/lab/progress", root.cookie)
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body, "blocked")

	for kind, tok := range map[string]string{"server": root.server, "oauth": root.oauth, "api": root.api} {
		status, _, body := h.api("GET", "/hub/api/user", tok, "")
		require.Equal(t, http.StatusForbidden, status, kind)
		require.Contains(t, body, "blocked", kind)
	}
	status, _, body = h.api("GET", "/api/images", root.api, "")
	require.Equal(t, http.StatusForbidden, status, "Labhub's own API refuses a blocked user's personal token")
	require.Contains(t, body, "blocked")
	status, _, body = h.api("POST", "/hub/api/users/root/activity", root.server, `{"last_activity":"2024-01-01T00:00:00Z"}`)
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body, "blocked")
	for kind, tok := range map[string]string{"server": alice.server, "oauth": alice.oauth, "api": alice.api} {
		status, _, _ := h.api("GET", "/hub/api/user", tok, "")
		require.Equal(t, http.StatusOK, status, kind)
	}

	// The proxy's guard of a server opened for help takes a blocked
	// owner's cookie or token for nobody's: it may only read.
	for _, c := range []creds{root, alice} {
		var srv store.Server
		require.NoError(t, h.db.Where("user_id = ?", c.user.ID).First(&srv).Error)
		require.NoError(t, h.db.Create(&store.HelpGrant{ServerID: srv.ID, HelperID: alice.user.ID,
			CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}).Error)
	}
	guard := func(name string, set func(*http.Request)) bool {
		req := httptest.NewRequest("POST", "/user/"+name+"/lab/api/contents", nil)
		set(req)
		return h.srv.HelpGuard(httptest.NewRecorder(), req, name, "lab")
	}
	byCookie := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: v}) }
	}
	byToken := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "token "+v) }
	}
	require.True(t, guard("alice", byCookie(alice.cookie)))
	require.True(t, guard("alice", byToken(alice.oauth)))
	require.False(t, guard("root", byCookie(root.cookie)), "a blocked owner's session does not count as the owner's")
	require.False(t, guard("root", byToken(root.oauth)), "a blocked owner's token does not count as the owner's")
}
