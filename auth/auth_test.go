package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/store"
)

type fixture struct {
	db    *store.DB
	svc   *auth.Service
	now   time.Time
	alice store.User
	bob   store.User
	srv   store.Server
}

func setup(t *testing.T, db *store.DB) *fixture {
	f := &fixture{db: db, now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	f.svc = auth.New(db, []byte("0123456789abcdef0123456789abcdef"), func() time.Time { return f.now })
	f.alice, f.bob = store.User{Name: "alice"}, store.User{Name: "bob"}
	require.NoError(t, db.Create(&f.alice).Error)
	require.NoError(t, db.Create(&f.bob).Error)
	c := store.Course{Provider: "lti13:1", ContextID: "c", Slug: "c"}
	require.NoError(t, db.Create(&c).Error)
	f.srv = store.Server{UserID: f.alice.ID, CourseID: c.ID, Name: "c", State: store.StateRunning}
	require.NoError(t, db.Create(&f.srv).Error)
	return f
}

func TestSessions(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			f := setup(t, db)
			ctx := context.Background()
			cookie, sess, err := f.svc.NewSession(ctx, nil, f.alice.ID, "lti13")
			require.NoError(t, err)
			require.NotContains(t, cookie, sess.ID, "the database keeps only a hash of the session id")

			_, u, err := f.svc.Session(ctx, cookie)
			require.NoError(t, err)
			require.Equal(t, "alice", u.Name)

			for _, bad := range []string{"", "x", cookie + "x", "A" + cookie[1:], strings.Replace(cookie, ".", "", 1)} {
				_, _, err := f.svc.Session(ctx, bad)
				require.ErrorIs(t, err, auth.ErrNoSession, "%q", bad)
			}

			f.now = f.now.Add(13 * time.Hour)
			_, _, err = f.svc.Session(ctx, cookie)
			require.ErrorIs(t, err, auth.ErrNoSession, "sessions expire")
		})
	}
}

func TestTokens(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			f := setup(t, db)
			ctx := context.Background()
			exp := f.now.Add(time.Hour)
			v, err := f.svc.IssueToken(ctx, nil, store.Token{Kind: store.TokenAPI, UserID: f.bob.ID,
				Scopes: auth.EncodeScopes([]string{"read:users"}), ExpiresAt: &exp})
			require.NoError(t, err)
			var row store.Token
			require.NoError(t, db.Where("user_id = ?", f.bob.ID).First(&row).Error)
			require.NotEqual(t, v, row.Hash)

			tok, u, err := f.svc.Lookup(ctx, v)
			require.NoError(t, err)
			require.Equal(t, "bob", u.Name)
			require.Equal(t, []string{"read:users"}, auth.Scopes(tok))

			_, _, err = f.svc.Lookup(ctx, v+"0")
			require.ErrorIs(t, err, auth.ErrInvalidToken)
			_, _, err = f.svc.Lookup(ctx, "")
			require.ErrorIs(t, err, auth.ErrInvalidToken)
			f.now = exp
			_, _, err = f.svc.Lookup(ctx, v)
			require.ErrorIs(t, err, auth.ErrInvalidToken, "a token is dead at its expiry")
		})
	}
}

func TestHasScope(t *testing.T) {
	for _, tc := range []struct {
		have []string
		want string
		ok   bool
	}{
		{[]string{"users:activity!user=alice"}, "users:activity!user=alice", true},
		{[]string{"users:activity!user=alice"}, "users:activity!user=bob", false},
		{[]string{"users:activity"}, "users:activity!user=bob", true},
		{[]string{"access:servers!user=alice"}, "access:servers!server=alice/c", true},
		{[]string{"access:servers!user=alice"}, "access:servers!server=bob/c", false},
		{[]string{"access:servers!server=alice/c"}, "access:servers!server=alice/c2", false},
		{[]string{"access:servers!server=alice/c"}, "access:servers!user=alice", false},
		{nil, "access:servers", false},
	} {
		require.Equal(t, tc.ok, auth.HasScope(tc.have, tc.want), "%v grants %s", tc.have, tc.want)
	}
}

func TestOAuthCodeFlow(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			f := setup(t, db)
			ctx := context.Background()
			const client, redirect, secret = "jupyterhub-user-alice--c", "/user/alice/c/oauth_callback", "server-token"
			require.NoError(t, f.svc.RegisterClient(ctx, nil, client, f.srv.ID, redirect, secret))
			_, aliceSess, err := f.svc.NewSession(ctx, nil, f.alice.ID, "lti13")
			require.NoError(t, err)
			_, bobSess, err := f.svc.NewSession(ctx, nil, f.bob.ID, "lti13")
			require.NoError(t, err)

			var oe *auth.OAuthError
			_, err = f.svc.Authorize(ctx, &f.bob, bobSess, client, redirect)
			require.ErrorAs(t, err, &oe)
			require.Equal(t, 403, oe.Status, "another user may not enter alice's server")
			_, err = f.svc.Authorize(ctx, &f.alice, aliceSess, client, redirect+"x")
			require.ErrorAs(t, err, &oe)
			require.Equal(t, "invalid_request", oe.Code)
			_, err = f.svc.Authorize(ctx, &f.alice, aliceSess, "nope", redirect)
			require.ErrorAs(t, err, &oe)

			code, err := f.svc.Authorize(ctx, &f.alice, aliceSess, client, redirect)
			require.NoError(t, err)

			_, err = f.svc.Exchange(ctx, client, "wrong", code, redirect)
			require.ErrorAs(t, err, &oe)
			require.Equal(t, 401, oe.Status)
			_, err = f.svc.Exchange(ctx, client, secret, code, "/elsewhere")
			require.ErrorAs(t, err, &oe)
			require.Equal(t, "invalid_grant", oe.Code, "a wrong redirect_uri gets no token")
			_, err = f.svc.Exchange(ctx, client, secret, code, redirect)
			require.NoError(t, err, "a refused exchange does not spend the code")
			_, err = f.svc.Exchange(ctx, client, secret, code, redirect)
			require.ErrorAs(t, err, &oe)
			require.Equal(t, "invalid_grant", oe.Code, "a code is used once")

			code, err = f.svc.Authorize(ctx, &f.alice, aliceSess, client, redirect)
			require.NoError(t, err)
			// Two servers racing to exchange one code: exactly one wins.
			var wg sync.WaitGroup
			grants := make(chan *auth.Grant, 4)
			for i := 0; i < 4; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					g, err := f.svc.Exchange(ctx, client, secret, code, redirect)
					var lost *auth.OAuthError
					if err == nil {
						grants <- g
					} else if !errors.As(err, &lost) {
						t.Errorf("unexpected error: %v", err)
					}
				}()
			}
			wg.Wait()
			close(grants)
			require.Len(t, grants, 1)
			g := <-grants
			require.Contains(t, g.Scopes, "access:servers!server=alice/c")

			tok, u, err := f.svc.Lookup(ctx, g.AccessToken)
			require.NoError(t, err)
			require.Equal(t, "alice", u.Name)
			require.Equal(t, aliceSess.ID, tok.SessionID)

			// Logging out revokes what the session's servers were given.
			require.NoError(t, f.svc.EndSession(ctx, aliceSess.ID))
			_, _, err = f.svc.Lookup(ctx, g.AccessToken)
			require.ErrorIs(t, err, auth.ErrInvalidToken)

			// Codes expire after five minutes.
			_, aliceSess, err = f.svc.NewSession(ctx, nil, f.alice.ID, "lti13")
			require.NoError(t, err)
			code, err = f.svc.Authorize(ctx, &f.alice, aliceSess, client, redirect)
			require.NoError(t, err)
			f.now = f.now.Add(5*time.Minute + time.Second)
			_, err = f.svc.Exchange(ctx, client, secret, code, redirect)
			require.ErrorAs(t, err, &oe)
			require.Equal(t, "invalid_grant", oe.Code)

			// A server's tokens and client go when it stops.
			require.NoError(t, f.svc.RevokeServerTokens(ctx, nil, f.srv.ID))
			_, err = f.svc.LookupClient(ctx, client)
			require.ErrorAs(t, err, &oe)
		})
	}
}
