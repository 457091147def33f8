package advantage_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/advantage"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/seal"
	"github.com/labhub/labhub/toolkey"
)

// fixture is a platform double with Labhub registered as a tool whose keys
// are served from a real toolkey store.
type fixture struct {
	platform *lms.Platform
	reg      lti.Platform
	keys     *toolkey.Keys
	tokens   *advantage.Tokens
}

func newFixture(t *testing.T) *fixture {
	db := testutil.SQLite(t)
	k, err := seal.New("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	require.NoError(t, err)
	keys := toolkey.New(db, k, nil)
	require.NoError(t, keys.Ensure(context.Background()))
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := keys.JWKS()
		require.NoError(t, err)
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	}))
	t.Cleanup(jwks.Close)

	p, err := lms.New(lms.Options{})
	require.NoError(t, err)
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	p.SetIssuer(srv.URL)
	client := lms.NewClientID()
	p.AddTool(lms.Tool{ClientID: client, DeploymentID: "1", LoginURL: "http://127.0.0.1:1/login",
		RedirectURIs: []string{"http://127.0.0.1:1/launch"}, JWKSURL: jwks.URL})
	return &fixture{platform: p, keys: keys, tokens: &advantage.Tokens{Keys: keys},
		reg: lti.Platform{Issuer: srv.URL, ClientID: client, TokenURL: srv.URL + "/mod/lti/token.php"}}
}

const (
	scopeMembers = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
	scopeScore   = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
)

func TestTokenIsCachedPerScopeSet(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, err := f.tokens.Token(ctx, f.reg, []string{scopeMembers})
	require.NoError(t, err)
	require.NotEmpty(t, a)
	b, err := f.tokens.Token(ctx, f.reg, []string{scopeMembers, scopeMembers})
	require.NoError(t, err)
	require.Equal(t, a, b, "the same scope set reuses the token")
	require.Equal(t, 1, f.platform.TokenRequests())

	c, err := f.tokens.Token(ctx, f.reg, []string{scopeScore, scopeMembers})
	require.NoError(t, err)
	require.NotEqual(t, a, c)
	d, err := f.tokens.Token(ctx, f.reg, []string{scopeMembers, scopeScore})
	require.NoError(t, err)
	require.Equal(t, c, d, "scope order does not matter")
	require.Equal(t, 2, f.platform.TokenRequests())

	f.tokens.Forget(f.reg, []string{scopeMembers})
	_, err = f.tokens.Token(ctx, f.reg, []string{scopeMembers})
	require.NoError(t, err)
	require.Equal(t, 3, f.platform.TokenRequests())
	require.Equal(t, 3, f.tokens.Requests())
}

func TestConcurrentCallersShareOneRequest(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	toks := make([]string, 20)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := f.tokens.Token(context.Background(), f.reg, []string{scopeScore})
			require.NoError(t, err)
			toks[i] = tok
		}()
	}
	wg.Wait()
	require.Equal(t, 1, f.platform.TokenRequests())
	for _, tok := range toks {
		require.Equal(t, toks[0], tok)
	}
}

func TestTokenErrors(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	unknown := f.reg
	unknown.ClientID = "not-registered"
	_, err := f.tokens.Token(ctx, unknown, []string{scopeScore})
	require.Error(t, err)
	require.True(t, advantage.IsPermanent(err), "an unknown client id needs an administrator: %v", err)

	_, err = f.tokens.Token(ctx, f.reg, []string{"https://example.invalid/scope/none"})
	require.True(t, advantage.IsPermanent(err), "a scope the platform does not grant: %v", err)

	f.platform.SetDown(true)
	_, err = f.tokens.Token(ctx, f.reg, []string{scopeScore})
	require.Error(t, err)
	require.False(t, advantage.IsPermanent(err), "an LMS that is down is worth retrying: %v", err)
	f.platform.SetDown(false)
	_, err = f.tokens.Token(ctx, f.reg, []string{scopeScore})
	require.NoError(t, err, "errors are not cached")

	_, err = f.tokens.Token(ctx, lti.Platform{ClientID: "x"}, []string{scopeScore})
	require.True(t, advantage.IsPermanent(err))
}
