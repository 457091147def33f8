package registry_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/migrations"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/seal"
	"github.com/labhub/labhub/store"
)

func keyring(t *testing.T) *seal.Keyring {
	k, err := seal.New("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	require.NoError(t, err)
	return k
}

func TestConsumerSecretIsSealed(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			r := registry.New(db, keyring(t), nil)
			_, err := r.PutConsumer(ctx, "moodle key", "s3cr3t & more", "Moodle")
			require.NoError(t, err)
			var c store.Consumer
			require.NoError(t, db.Where("key = ?", "moodle key").First(&c).Error)
			require.NotContains(t, string(c.SecretSealed), "s3cr3t")

			got, err := r.Secret(ctx, "moodle key")
			require.NoError(t, err)
			require.Equal(t, "s3cr3t & more", got)

			_, err = r.PutConsumer(ctx, "moodle key", "rotated", "Moodle")
			require.NoError(t, err)
			got, err = r.Secret(ctx, "moodle key")
			require.NoError(t, err)
			require.Equal(t, "rotated", got)

			_, err = r.Secret(ctx, "other")
			require.ErrorIs(t, err, lti.ErrUnknownConsumer)

			// A sealed secret copied to another key's row does not open.
			_, err = r.PutConsumer(ctx, "second", "x", "")
			require.NoError(t, err)
			require.NoError(t, db.Model(&store.Consumer{}).Where("key = ?", "second").Update("secret_sealed", c.SecretSealed).Error)
			_, err = r.Secret(ctx, "second")
			require.ErrorIs(t, err, seal.ErrOpen)

			_, err = r.PutConsumer(ctx, " ", "x", "")
			require.Error(t, err)
		})
	}
}

func TestPlatforms(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			r := registry.New(db, keyring(t), nil)
			in := registry.PlatformInput{Issuer: "https://lms.example", ClientID: "c1",
				AuthURL: "https://lms.example/auth", JWKSURL: "https://lms.example/jwks", Deployments: []string{"1"}}
			p, err := r.PutPlatform(ctx, in)
			require.NoError(t, err)
			require.Len(t, p.Deployments, 1)

			in.Deployments = []string{"2", "1"}
			p, err = r.PutPlatform(ctx, in)
			require.NoError(t, err)
			require.Len(t, p.Deployments, 2, "deployments are added, not duplicated")

			got, err := r.Platform(ctx, "https://lms.example", "c1")
			require.NoError(t, err)
			require.ElementsMatch(t, []string{"1", "2"}, got.Deployments)
			byIss, err := r.PlatformByIssuer(ctx, "https://lms.example")
			require.NoError(t, err)
			require.Equal(t, got.ID, byIss.ID)

			_, err = r.Platform(ctx, "https://lms.example", "c2")
			require.ErrorIs(t, err, lti.ErrUnknownPlatform)

			// A second client id under the same issuer (Canvas) makes the
			// issuer alone ambiguous.
			in2 := in
			in2.ClientID = "c2"
			_, err = r.PutPlatform(ctx, in2)
			require.NoError(t, err)
			_, err = r.PlatformByIssuer(ctx, "https://lms.example")
			require.ErrorIs(t, err, lti.ErrUnknownPlatform)

			for _, bad := range []registry.PlatformInput{
				{ClientID: "x", AuthURL: in.AuthURL, JWKSURL: in.JWKSURL, Issuer: ""},
				{Issuer: "https://a", ClientID: "x", AuthURL: "ftp://a", JWKSURL: in.JWKSURL},
				{Issuer: "https://a", ClientID: "x", AuthURL: in.AuthURL, JWKSURL: "not a url"},
				{Issuer: "https://a", ClientID: "x", AuthURL: in.AuthURL, JWKSURL: in.JWKSURL, Deployments: []string{" "}},
				{Issuer: "https://a", ClientID: "x", AuthURL: in.AuthURL, JWKSURL: in.JWKSURL, Deployments: []string{""}},
				{Issuer: "https://a", ClientID: "x", AuthURL: in.AuthURL, JWKSURL: in.JWKSURL},
				{Issuer: "https://a", ClientID: "x", AuthURL: in.AuthURL, JWKSURL: in.JWKSURL, Deployments: []string{"1"},
					ByHand: true},
			} {
				_, err := r.PutPlatform(ctx, bad)
				require.Error(t, err, "%+v", bad)
			}
			_, err = r.Platform(ctx, "https://a", "x")
			require.ErrorIs(t, err, lti.ErrUnknownPlatform, "a refused platform is not stored")

			// A platform that adds unknown deployments needs none to start
			// with; one typed in by hand needs its token URL.
			_, err = r.PutPlatform(ctx, registry.PlatformInput{Issuer: "https://a", ClientID: "x", AuthURL: in.AuthURL,
				JWKSURL: in.JWKSURL, DeploymentPolicy: registry.PolicyAdd})
			require.NoError(t, err)
			_, err = r.PutPlatform(ctx, registry.PlatformInput{Issuer: "https://b", ClientID: "x", AuthURL: in.AuthURL,
				JWKSURL: in.JWKSURL, TokenURL: "https://b/token", Deployments: []string{"1"}, ByHand: true})
			require.NoError(t, err)
		})
	}
}

func TestNonces(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
			n := registry.NewNonces(db, func() time.Time { return now })
			require.NoError(t, n.UseNonce(ctx, "k", "abc", now.Add(time.Minute)))
			require.ErrorIs(t, n.UseNonce(ctx, "k", "abc", now.Add(time.Minute)), lti.ErrReplay)
			require.NoError(t, n.UseNonce(ctx, "other", "abc", now.Add(time.Minute)), "scopes are separate")

			// Concurrent uses of one nonce: exactly one wins.
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := n.UseNonce(ctx, "k", "race", now.Add(time.Minute))
					if err == nil {
						mu.Lock()
						wins++
						mu.Unlock()
					} else if !errors.Is(err, lti.ErrReplay) {
						t.Errorf("unexpected error: %v", err)
					}
				}()
			}
			wg.Wait()
			require.Equal(t, 1, wins)

			now = now.Add(2 * time.Minute)
			swept, err := n.Sweep(ctx)
			require.NoError(t, err)
			require.EqualValues(t, 3, swept)
			require.NoError(t, n.UseNonce(ctx, "k", "abc", now.Add(time.Minute)), "an expired nonce no longer blocks")
		})
	}
}

// A nonce recorded before a restart still refuses its replay after it: the
// restarted hub opens the same database file afresh.
func TestNoncesSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now()
	open := func() *store.DB {
		db, err := store.Open(ctx, "", dir, nil)
		require.NoError(t, err)
		_, err = migrations.Run(ctx, db.DB, nil, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		return db
	}
	first := open()
	require.NoError(t, registry.NewNonces(first, nil).UseNonce(ctx, "k", "before-restart", now.Add(time.Minute)))
	require.NoError(t, first.Close())

	second := open()
	t.Cleanup(func() { second.Close() })
	err := registry.NewNonces(second, nil).UseNonce(ctx, "k", "before-restart", now.Add(time.Minute))
	require.ErrorIs(t, err, lti.ErrReplay, "the replay is refused after the restart")
}
