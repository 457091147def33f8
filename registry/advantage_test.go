package registry_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/store"
)

// A deployment id a registration does not list is refused by default, and
// recorded and accepted when the registration's policy says so.
func TestDeploymentPolicy(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			r := registry.New(db, keyring(t), nil)
			sp, err := r.PutPlatform(ctx, registry.PlatformInput{Issuer: "https://blackboard.com", ClientID: "one-client",
				AuthURL:     "https://developer.blackboard.com/api/v1/gateway/oidcauth",
				JWKSURL:     "https://developer.blackboard.com/api/v1/management/applications/x/jwks.json",
				Deployments: []string{"inst-a"}})
			require.NoError(t, err)
			require.Equal(t, registry.PolicyReject, sp.DeploymentPolicy)
			p, err := r.Platform(ctx, "https://blackboard.com", "one-client")
			require.NoError(t, err)

			require.NoError(t, r.AcceptDeployment(ctx, p, "inst-a"))
			err = r.AcceptDeployment(ctx, p, "inst-b")
			var le *lti.Error
			require.ErrorAs(t, err, &le)
			require.Equal(t, lti.CodeUnknownDeployment, le.Code)
			require.Contains(t, le.Hint, `"inst-b"`)

			require.NoError(t, r.SetDeploymentPolicy(ctx, sp.ID, registry.PolicyAdd))
			require.NoError(t, r.AcceptDeployment(ctx, p, "inst-b"))
			p, err = r.Platform(ctx, "https://blackboard.com", "one-client")
			require.NoError(t, err)
			require.ElementsMatch(t, []string{"inst-a", "inst-b"}, p.Deployments)

			// Re-registering by hand without a policy keeps the policy.
			_, err = r.PutPlatform(ctx, registry.PlatformInput{Issuer: "https://blackboard.com", ClientID: "one-client",
				AuthURL: "https://developer.blackboard.com/a", JWKSURL: "https://developer.blackboard.com/j"})
			require.NoError(t, err)
			require.NoError(t, r.AcceptDeployment(ctx, p, "inst-c"))

			require.Error(t, r.SetDeploymentPolicy(ctx, sp.ID, "maybe"))
			require.ErrorIs(t, r.SetDeploymentPolicy(ctx, sp.ID+100, registry.PolicyAdd), store.ErrNotFound)
		})
	}
}

func TestFrameAncestors(t *testing.T) {
	ctx := context.Background()
	db := testutil.SQLite(t)
	r := registry.New(db, keyring(t), nil)
	_, err := r.PutPlatform(ctx, registry.PlatformInput{Issuer: "https://moodle.example.edu/moodle", ClientID: "c",
		AuthURL: "https://moodle.example.edu/moodle/mod/lti/auth.php", JWKSURL: "https://moodle.example.edu/moodle/mod/lti/certs.php", Deployments: []string{"1"}})
	require.NoError(t, err)
	got, err := r.FrameAncestors(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"https://moodle.example.edu"}, got, "a new platform's origin is its issuer's")

	// Canvas: the issuer is shared, the pages live on the institution's host.
	sp, err := r.PutPlatform(ctx, registry.PlatformInput{Issuer: "https://canvas.instructure.com", ClientID: "1000",
		AuthURL: "https://sso.canvaslms.com/api/lti/authorize_redirect", JWKSURL: "https://sso.canvaslms.com/api/lti/security/jwks",
		Origins: []string{"https://School.Instructure.com", "https://school.instructure.com/"}, Deployments: []string{"1"}})
	require.NoError(t, err)
	require.Equal(t, "https://school.instructure.com", sp.Origins)
	got, err = r.FrameAncestors(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"https://moodle.example.edu", "https://school.instructure.com"}, got)

	require.NoError(t, r.SetOrigins(ctx, sp.ID, []string{"https://a.test https://b.test:8443"}))
	got, err = r.FrameAncestors(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"https://a.test", "https://b.test:8443", "https://moodle.example.edu"}, got)

	for _, bad := range []string{"a.test", "https://a.test/path", "javascript:x", "https://a.test?x", "https://u@a.test"} {
		require.Error(t, r.SetOrigins(ctx, sp.ID, []string{bad}), bad)
	}
}

func TestRegistrationInvites(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			var mu sync.Mutex
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			r := registry.New(db, keyring(t), clock)
			token, inv, err := r.CreateInvite(ctx, time.Hour, "moodle prod")
			require.NoError(t, err)
			require.NotEqual(t, token, inv.Hash, "only the hash is stored")

			got, err := r.CheckInvite(ctx, token)
			require.NoError(t, err)
			require.Equal(t, inv.ID, got.ID)
			_, err = r.CheckInvite(ctx, token+"x")
			require.ErrorIs(t, err, registry.ErrInvite)
			_, err = r.CheckInvite(ctx, "")
			require.ErrorIs(t, err, registry.ErrInvite)

			// Two registrations race for one invite: one wins.
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i := range errs {
				wg.Add(1)
				go func() { defer wg.Done(); errs[i] = r.UseInvite(ctx, inv.ID, uint(i+1)) }()
			}
			wg.Wait()
			require.True(t, (errs[0] == nil) != (errs[1] == nil), "exactly one use succeeds: %v", errs)
			_, err = r.CheckInvite(ctx, token)
			require.ErrorIs(t, err, registry.ErrInvite, "a used invite is gone")

			token, _, err = r.CreateInvite(ctx, time.Hour, "")
			require.NoError(t, err)
			mu.Lock()
			now = now.Add(time.Hour)
			mu.Unlock()
			_, err = r.CheckInvite(ctx, token)
			require.ErrorIs(t, err, registry.ErrInvite, "an expired invite is gone")
			list, err := r.Invites(ctx)
			require.NoError(t, err)
			require.Len(t, list, 2)
		})
	}
}
