package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/store"
)

// An instructor with a help grant gets into a student's server; the token
// ends with the grant, and without one the server stays closed.
func TestHelpGrantOpensServer(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			f := setup(t, db)
			ctx := context.Background()
			const client, redirect, secret = "jupyterhub-user-alice--c", "/user/alice/c/oauth_callback", "server-token"
			require.NoError(t, f.svc.RegisterClient(ctx, nil, client, f.srv.ID, redirect, secret))
			_, bobSess, err := f.svc.NewSession(ctx, nil, f.bob.ID, "lti13")
			require.NoError(t, err)
			var oe *auth.OAuthError
			_, err = f.svc.Authorize(ctx, &f.bob, bobSess, client, redirect)
			require.ErrorAs(t, err, &oe)
			require.Equal(t, 403, oe.Status)

			g := store.HelpGrant{ServerID: f.srv.ID, HelperID: f.bob.ID, CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}
			require.NoError(t, db.Create(&g).Error)
			code, err := f.svc.Authorize(ctx, &f.bob, bobSess, client, redirect)
			require.NoError(t, err)
			grant, err := f.svc.Exchange(ctx, client, secret, code, redirect)
			require.NoError(t, err)
			require.Contains(t, grant.Scopes, "access:servers!server=alice/c")
			require.LessOrEqual(t, grant.ExpiresIn, 3600, "the token ends with the grant")
			tok, u, err := f.svc.Lookup(ctx, grant.AccessToken)
			require.NoError(t, err)
			require.Equal(t, "bob", u.Name)
			require.True(t, tok.ExpiresAt.Equal(g.ExpiresAt))

			// After the grant, neither a new code nor the old token works.
			code, err = f.svc.Authorize(ctx, &f.bob, bobSess, client, redirect)
			require.NoError(t, err)
			f.now = f.now.Add(time.Hour + time.Second)
			_, err = f.svc.Exchange(ctx, client, secret, code, redirect)
			require.ErrorAs(t, err, &oe)
			_, _, err = f.svc.Lookup(ctx, grant.AccessToken)
			require.ErrorIs(t, err, auth.ErrInvalidToken)
			_, err = f.svc.Authorize(ctx, &f.bob, bobSess, client, redirect)
			require.ErrorAs(t, err, &oe)
			require.Equal(t, 403, oe.Status)
		})
	}
}
