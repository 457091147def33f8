package lti_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

func TestMemoryNonceStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock(time.Unix(1_800_000_000, 0))
	s := &lti.MemoryNonceStore{Now: clk.now}
	exp := clk.now().Add(time.Minute)

	require.NoError(t, s.UseNonce(ctx, "a", "n1", exp))
	require.ErrorIs(t, s.UseNonce(ctx, "a", "n1", exp), lti.ErrReplay)
	require.NoError(t, s.UseNonce(ctx, "b", "n1", exp), "scopes are separate")
	require.NoError(t, s.UseNonce(ctx, "a\x00n", "1", exp), "scope and nonce do not run together")
	require.NoError(t, s.UseNonce(ctx, "a", "n1\x00", exp))

	clk.advance(time.Minute - time.Nanosecond)
	require.ErrorIs(t, s.UseNonce(ctx, "a", "n1", exp), lti.ErrReplay, "still within its lifetime")
	clk.advance(time.Nanosecond)
	require.NoError(t, s.UseNonce(ctx, "a", "n1", clk.now().Add(time.Minute)),
		"expired entries may be reused")
	require.ErrorIs(t, s.UseNonce(ctx, "a", "n1", exp), lti.ErrReplay, "and are recorded again")
}

func TestMemoryNonceStoreSweepsExpired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock(time.Unix(1_800_000_000, 0))
	s := &lti.MemoryNonceStore{Now: clk.now}
	for i := range 100 {
		require.NoError(t,
			s.UseNonce(ctx, "a", strconv.Itoa(i), clk.now().Add(time.Duration(i)*time.Second)))
	}
	require.Equal(t, 100, s.Len())
	clk.advance(time.Minute + 30*time.Second) // past 90 of the entries, and past the sweep interval
	require.NoError(t, s.UseNonce(ctx, "a", "new", clk.now().Add(time.Minute)))
	require.Equal(t, 10, s.Len(), "9 unexpired old entries and the new one remain")
}

func TestMemoryNonceStoreCapEvictsOldest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := newClock(time.Unix(1_800_000_000, 0))
	s := &lti.MemoryNonceStore{Max: 3, Now: clk.now}
	exp := clk.now().Add(time.Hour)
	for _, n := range []string{"a", "b", "c", "d"} {
		require.NoError(t, s.UseNonce(ctx, "x", n, exp))
	}
	require.Equal(t, 3, s.Len())
	require.ErrorIs(t, s.UseNonce(ctx, "x", "d", exp), lti.ErrReplay)
	require.ErrorIs(t, s.UseNonce(ctx, "x", "b", exp), lti.ErrReplay)
	require.NoError(t, s.UseNonce(ctx, "x", "a", exp), "the oldest entry was evicted")
	require.Equal(t, 3, s.Len())
}

func TestMemoryNonceStoreConcurrentUse(t *testing.T) {
	t.Parallel()
	s := &lti.MemoryNonceStore{}
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.UseNonce(context.Background(), "x", "same", time.Now().Add(time.Minute)) == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 1, ok.Load(), "exactly one concurrent use wins")
}
