package toolkey_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/seal"
	"github.com/labhub/labhub/store"
	"github.com/labhub/labhub/toolkey"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func keyring(t *testing.T) *seal.Keyring {
	k, err := seal.New("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	require.NoError(t, err)
	return k
}

// kids returns the key ids /lti/jwks publishes.
func kids(t *testing.T, k *toolkey.Keys) []string {
	t.Helper()
	b, err := k.JWKS()
	require.NoError(t, err)
	set, err := jwk.Parse(b)
	require.NoError(t, err)
	var out []string
	for i := 0; i < set.Len(); i++ {
		key, _ := set.Key(i)
		_, private := key.(jwk.RSAPrivateKey)
		require.False(t, private, "only public halves are published")
		out = append(out, key.KeyID())
	}
	return out
}

func signer(t *testing.T, k *toolkey.Keys) jwk.Key {
	t.Helper()
	s, err := k.Signer()
	require.NoError(t, err)
	return s
}

// verifies reports whether a signature by key verifies with the published set.
func verifies(t *testing.T, k *toolkey.Keys, key jwk.Key) bool {
	t.Helper()
	msg, err := jws.Sign([]byte("payload"), jws.WithKey(jwa.RS256, key))
	require.NoError(t, err)
	b, err := k.JWKS()
	require.NoError(t, err)
	set, err := jwk.Parse(b)
	require.NoError(t, err)
	_, err = jws.Verify(msg, jws.WithKeySet(set, jws.WithRequireKid(false), jws.WithInferAlgorithmFromKey(true)))
	return err == nil
}

// The rotation a platform can follow: two keys are always published, a
// key is published long before it signs, and a retired key stays published
// until what it signed has expired.
func TestRotation(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
			k := toolkey.New(db, keyring(t), clk.now)
			require.NoError(t, k.Ensure(ctx))
			require.NoError(t, k.Ensure(ctx), "ensure is idempotent")
			first := signer(t, k)
			published := kids(t, k)
			require.Len(t, published, 2, "the current and the next key")
			require.Contains(t, published, first.KeyID())
			var next string
			for _, id := range published {
				if id != first.KeyID() {
					next = id
				}
			}

			// The next key has just been published: rotating now could make
			// Labhub sign with a key platforms have not fetched yet.
			_, err := k.Rotate(ctx, false)
			var tooSoon *toolkey.TooSoonError
			require.ErrorAs(t, err, &tooSoon)
			require.Equal(t, next, tooSoon.KID)
			require.Equal(t, first.KeyID(), signer(t, k).KeyID())

			clk.advance(toolkey.MinPublished)
			// The command line rotates in another process.
			cli := toolkey.New(db, keyring(t), clk.now)
			kid, err := cli.Rotate(ctx, false)
			require.NoError(t, err)
			require.Equal(t, next, kid, "the key published before is the one that signs")
			require.Equal(t, first.KeyID(), signer(t, k).KeyID(), "the server notices at its next reload")
			require.NoError(t, k.Reload(ctx))
			require.Equal(t, next, signer(t, k).KeyID())
			require.Len(t, kids(t, k), 3, "retired, current and a new next key")
			require.True(t, verifies(t, k, first), "what the retired key signed still verifies")

			list, err := k.List(ctx)
			require.NoError(t, err)
			states := map[string]string{}
			for _, i := range list {
				states[i.KID] = i.State
			}
			require.Equal(t, toolkey.StateRetired, states[first.KeyID()])
			require.Equal(t, toolkey.StateCurrent, states[next])

			// After the grace the retired key is gone.
			clk.advance(toolkey.RetiredGrace)
			require.NoError(t, k.Reload(ctx))
			require.Len(t, kids(t, k), 2)
			require.False(t, verifies(t, k, first))
			n, err := k.Sweep(ctx)
			require.NoError(t, err)
			require.EqualValues(t, 1, n)
			var left int64
			require.NoError(t, db.Model(&store.ToolKey{}).Count(&left).Error)
			require.EqualValues(t, 2, left)

			// Forcing skips the wait.
			kid, err = k.Rotate(ctx, true)
			require.NoError(t, err)
			require.Equal(t, kid, signer(t, k).KeyID())
		})
	}
}

// A database from before rotation has one active key and no next key:
// Ensure publishes a next key, and a rotation waits for it.
func TestRotationFromOneKey(t *testing.T) {
	ctx := context.Background()
	db := testutil.SQLite(t)
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	k := toolkey.New(db, keyring(t), clk.now)
	require.NoError(t, k.Ensure(ctx))
	require.NoError(t, db.Where("activated_at IS NULL").Delete(&store.ToolKey{}).Error)
	require.NoError(t, k.Reload(ctx))
	require.Len(t, kids(t, k), 1)
	_, err := k.Rotate(ctx, false)
	var tooSoon *toolkey.TooSoonError
	require.ErrorAs(t, err, &tooSoon)
	require.Len(t, kids(t, k), 2, "the missing next key is published at once")
	clk.advance(toolkey.MinPublished)
	kid, err := k.Rotate(ctx, false)
	require.NoError(t, err)
	require.Equal(t, tooSoon.KID, kid)
}
