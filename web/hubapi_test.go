package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/store"
)

func (h *harness) api(method, path, token, body string) (int, http.Header, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.hub.URL+path, strings.NewReader(body))
	require.NoError(h.t, err)
	if token != "" {
		req.Header.Set("Authorization", "token "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestAPIRootVersion(t *testing.T) {
	h := newHarness(t)
	for _, p := range []string{"/hub/api", "/hub/api/"} {
		status, hdr, body := h.api("GET", p, "", "")
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "5.3.0", hdr.Get("X-JupyterHub-Version"))
		require.JSONEq(t, `{"version":"5.3.0"}`, body)
	}
}

// serverToken makes a user with a server and returns the server's token.
func (h *harness) serverToken(name string) (store.User, string) {
	u := store.User{Name: name}
	require.NoError(h.t, h.db.Create(&u).Error)
	c := store.Course{Provider: "p", ContextID: name, Slug: "c-" + name}
	require.NoError(h.t, h.db.Create(&c).Error)
	srv := store.Server{UserID: u.ID, CourseID: c.ID, Name: "lab", State: store.StateRunning}
	require.NoError(h.t, h.db.Create(&srv).Error)
	a := auth.New(h.db, nil, nil)
	id := srv.ID
	tok, err := a.IssueToken(context.Background(), nil, store.Token{Kind: store.TokenServer, UserID: u.ID, ServerID: &id,
		Scopes: auth.EncodeScopes([]string{"users:activity!user=" + name, auth.ServerScope(name, "lab")})})
	require.NoError(h.t, err)
	return u, tok
}

func TestAPIUser(t *testing.T) {
	h := newHarness(t)
	_, tok := h.serverToken("alice")
	for _, auth := range []string{"token ", "Bearer ", "TOKEN "} {
		req, _ := http.NewRequest("GET", h.hub.URL+"/hub/api/user", nil)
		req.Header.Set("Authorization", auth+tok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "alice", m["name"])
		require.Equal(t, "user", m["kind"])
		require.Contains(t, m["scopes"], "access:servers!server=alice/lab")
	}
	// singleuser treats 403, and only 403, as "not logged in".
	for _, bad := range []string{"", "nope", tok + "x"} {
		status, _, _ := h.api("GET", "/hub/api/user", bad, "")
		require.Equal(t, http.StatusForbidden, status, "token %q", bad)
	}
}

func TestAPIActivity(t *testing.T) {
	h := newHarness(t)
	alice, tok := h.serverToken("alice")
	_, bobTok := h.serverToken("bob")
	ts := time.Now().UTC().Add(-time.Minute).Truncate(time.Microsecond)
	iso := ts.Format("2006-01-02T15:04:05.000000Z")
	for _, tc := range []struct {
		name, token, body string
		status            int
	}{
		{"valid", tok, `{"servers":{"lab":{"last_activity":"` + iso + `"}},"last_activity":"` + iso + `"}`, 200},
		{"no token", "", `{"last_activity":"` + iso + `"}`, 403},
		{"another user's token", bobTok, `{"last_activity":"` + iso + `"}`, 403},
		{"not an object", tok, `[1,2]`, 400},
		{"no activity", tok, `{}`, 400},
		{"unknown server", tok, `{"servers":{"other":{"last_activity":"` + iso + `"}}}`, 400},
		{"missing timestamp", tok, `{"servers":{"lab":{}}}`, 400},
		{"garbage timestamp", tok, `{"last_activity":"yesterday"}`, 400},
		{"far future", tok, `{"last_activity":"` + time.Now().Add(2*time.Hour).UTC().Format(time.RFC3339) + `"}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := h.api("POST", "/hub/api/users/alice/activity", tc.token, tc.body)
			require.Equal(t, tc.status, status, body)
		})
	}
	var srv store.Server
	require.NoError(t, h.db.Where("user_id = ?", alice.ID).First(&srv).Error)
	require.NotNil(t, srv.LastActivity)
	require.True(t, srv.LastActivity.Equal(ts), "%v != %v", srv.LastActivity, ts)

	// Activity never moves backwards.
	old := ts.Add(-time.Hour).Format(time.RFC3339Nano)
	status, _, _ := h.api("POST", "/hub/api/users/alice/activity", tok, `{"servers":{"lab":{"last_activity":"`+old+`"}}}`)
	require.Equal(t, 200, status)
	require.NoError(t, h.db.Where("user_id = ?", alice.ID).First(&srv).Error)
	require.True(t, srv.LastActivity.Equal(ts))
}

func TestJWKSPublishesToolKey(t *testing.T) {
	h := newHarness(t)
	status, hdr, body := h.api("GET", "/lti/jwks", "", "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "application/json", hdr.Get("Content-Type"))
	var set struct{ Keys []map[string]any }
	require.NoError(t, json.Unmarshal([]byte(body), &set))
	require.Len(t, set.Keys, 2, "the current key and the next one, published before it signs")
	for _, k := range set.Keys {
		require.Equal(t, "RSA", k["kty"])
		require.Equal(t, "RS256", k["alg"])
		require.NotEmpty(t, k["kid"])
		require.NotContains(t, k, "d", "only the public half is published")
		require.NotContains(t, k, "p")
	}

	var rows []store.ToolKey
	require.NoError(t, h.db.Find(&rows).Error)
	require.Len(t, rows, 2)
	for _, r := range rows {
		require.NotContains(t, string(r.PrivateSealed), "PRIVATE KEY", "the private key is stored sealed")
	}
}
