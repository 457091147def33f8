package advantage_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// The client assertion names the client as issuer and subject and the
// platform's token audience (Brightspace's differs from its token URL), or
// else the token URL, as its audience; each carries its own jti.
func TestAssertionAudience(t *testing.T) {
	f := newFixture(t)
	var mu sync.Mutex
	var claims []map[string]any
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		parts := strings.Split(r.PostForm.Get("client_assertion"), ".")
		require.Len(t, parts, 3)
		b, err := base64.RawURLEncoding.DecodeString(parts[1])
		require.NoError(t, err)
		var c map[string]any
		require.NoError(t, json.Unmarshal(b, &c))
		mu.Lock()
		claims = append(claims, c)
		mu.Unlock()
		// Moodle does not check the audience; its token endpoint answers.
		r.URL.Path = "/mod/lti/token.php"
		f.platform.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)

	reg := f.reg
	reg.TokenURL = front.URL + "/token"
	_, err := f.tokens.Token(context.Background(), reg, []string{scopeScore})
	require.NoError(t, err)
	reg.TokenAudience = "https://api.brightspace.com/auth/token"
	f.tokens.Forget(f.reg, []string{scopeScore})
	_, err = f.tokens.Token(context.Background(), reg, []string{scopeMembers})
	require.NoError(t, err)

	require.Len(t, claims, 2)
	require.Equal(t, []any{front.URL + "/token"}, claims[0]["aud"])
	require.Equal(t, []any{"https://api.brightspace.com/auth/token"}, claims[1]["aud"])
	for _, c := range claims {
		require.Equal(t, f.reg.ClientID, c["iss"])
		require.Equal(t, f.reg.ClientID, c["sub"])
		require.InDelta(t, 300, c["exp"].(float64)-c["iat"].(float64), 1)
	}
	require.NotEqual(t, claims[0]["jti"], claims[1]["jti"])
}
