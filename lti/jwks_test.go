package lti_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

func cacheFor(srv *keyServer, clk *clock) *lti.KeySetCache {
	return &lti.KeySetCache{Client: srv.Client(), Now: clk.now}
}

func TestKeySetCacheMoodle(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile(filepath.Join("testdata", "platform-jwks.json"))
	require.NoError(t, err)
	srv := newKeyServer(t, body)
	c := cacheFor(srv, newClock(time.Unix(1_800_000_000, 0)))
	for range 3 {
		k, err := c.Key(context.Background(), srv.URL, "d83f19372131e99f5403")
		require.NoError(t, err)
		require.Equal(t, 2048, k.N.BitLen())
		k2, err := c.Key(context.Background(), srv.URL, "")
		require.NoError(t, err, "a set with one key serves tokens without kid")
		require.True(t, k.Equal(k2))
	}
	require.EqualValues(t, 1, srv.hits.Load(), "the set is fetched once")
}

func TestKeySetCacheRefetchOnUnknownKid(t *testing.T) {
	t.Parallel()
	a, b := signer{testRSAKey(t, 0), "a"}, signer{testRSAKey(t, 1), "b"}
	srv := newKeyServer(t, jwks(t, a))
	clk := newClock(time.Unix(1_800_000_000, 0))
	c := cacheFor(srv, clk)
	ctx := context.Background()

	_, err := c.Key(ctx, srv.URL, "a")
	require.NoError(t, err)
	require.EqualValues(t, 1, srv.hits.Load())

	// Right after a fetch, a kid the set lacks does not cause another.
	_, err = c.Key(ctx, srv.URL, "nope")
	requireCode(t, err, lti.CodeUnknownKey)
	require.EqualValues(t, 1, srv.hits.Load())

	// Later, a kid the set does not have: one refetch, then an error.
	clk.advance(lti.DefaultMinRefetchInterval)
	_, err = c.Key(ctx, srv.URL, "nope")
	e := requireCode(t, err, lti.CodeUnknownKey)
	require.Equal(t, 401, e.Status)
	require.NotEmpty(t, e.Hint)
	require.EqualValues(t, 2, srv.hits.Load())
	// Again within MinRefetchInterval: no fetch.
	_, err = c.Key(ctx, srv.URL, "nope")
	requireCode(t, err, lti.CodeUnknownKey)
	require.EqualValues(t, 2, srv.hits.Load())
	// Known keys keep working meanwhile, without fetches.
	_, err = c.Key(ctx, srv.URL, "a")
	require.NoError(t, err)
	require.EqualValues(t, 2, srv.hits.Load())

	// The platform rotates to b; within the interval b is not found yet.
	srv.serve(http.StatusOK, jwks(t, b))
	_, err = c.Key(ctx, srv.URL, "b")
	requireCode(t, err, lti.CodeUnknownKey)
	clk.advance(lti.DefaultMinRefetchInterval)
	k, err := c.Key(ctx, srv.URL, "b")
	require.NoError(t, err)
	require.True(t, k.Equal(&b.key.PublicKey))
	require.EqualValues(t, 3, srv.hits.Load())
	// a left the set, so it is no longer accepted.
	clk.advance(lti.DefaultMinRefetchInterval)
	_, err = c.Key(ctx, srv.URL, "a")
	requireCode(t, err, lti.CodeUnknownKey)
}

// TestKeySetCacheHourlyRotation follows a platform that publishes a new key
// every hour and drops the old one, as Brightspace does.
func TestKeySetCacheHourlyRotation(t *testing.T) {
	t.Parallel()
	srv := newKeyServer(t, nil)
	clk := newClock(time.Unix(1_800_000_000, 0))
	c := cacheFor(srv, clk)
	for hour := range 6 {
		s := signer{testRSAKey(t, hour%3), "k" + string(rune('0'+hour))}
		srv.serve(http.StatusOK, jwks(t, s))
		for range 10 {
			k, err := c.Key(context.Background(), srv.URL, s.kid)
			require.NoError(t, err, "hour %d", hour)
			require.True(t, k.Equal(&s.key.PublicKey))
			clk.advance(time.Minute)
		}
		clk.advance(50 * time.Minute)
	}
	require.EqualValues(t, 6, srv.hits.Load(), "one fetch per rotation")
}

func TestKeySetCacheRefreshesOldSetsAndKeepsThemOnFailure(t *testing.T) {
	t.Parallel()
	a := signer{testRSAKey(t, 0), "a"}
	srv := newKeyServer(t, jwks(t, a))
	clk := newClock(time.Unix(1_800_000_000, 0))
	c := cacheFor(srv, clk)
	ctx := context.Background()
	_, err := c.Key(ctx, srv.URL, "a")
	require.NoError(t, err)

	srv.serve(http.StatusInternalServerError, []byte("down"))
	clk.advance(lti.DefaultKeySetMaxAge)
	_, err = c.Key(ctx, srv.URL, "a")
	require.NoError(t, err, "an old set is used while it is refreshed")
	require.Eventually(t, func() bool { return srv.hits.Load() == 2 }, 5*time.Second, time.Millisecond)

	// The refresh failed: the keys already known stay in use.
	clk.advance(lti.DefaultMinRefetchInterval)
	_, err = c.Key(ctx, srv.URL, "a")
	require.NoError(t, err)
	// An unknown kid still refetches (and fails): unknown_key, with the cause.
	clk.advance(lti.DefaultMinRefetchInterval)
	_, err = c.Key(ctx, srv.URL, "b")
	e := requireCode(t, err, lti.CodeUnknownKey)
	require.ErrorContains(t, e.Err, "500")
}

func TestKeySetCacheBadSets(t *testing.T) {
	t.Parallel()
	good := signer{testRSAKey(t, 0), "good"}
	keyJSON := func(t *testing.T, raw any, fields map[string]any) map[string]any {
		k, err := jwk.FromRaw(raw)
		require.NoError(t, err)
		for name, v := range fields {
			require.NoError(t, k.Set(name, v))
		}
		b, err := json.Marshal(k)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m))
		return m
	}
	setOf := func(t *testing.T, keys ...map[string]any) []byte {
		b, err := json.Marshal(map[string]any{"keys": keys})
		require.NoError(t, err)
		return b
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	pub := &good.key.PublicKey

	tests := []struct {
		name   string
		status int
		body   func(t *testing.T) []byte
		kid    string
		code   string // "" means the key is found
	}{
		{name: "not found", status: 404, body: func(*testing.T) []byte { return []byte("{}") },
			kid:  "good",
			code: lti.CodeKeySetUnavailable},
		{name: "server error with a valid body", status: 500,
			body: func(t *testing.T) []byte { return jwks(t, good) }, kid: "good",
			code: lti.CodeKeySetUnavailable},
		{name: "not json", status: 200, body: func(*testing.T) []byte { return []byte("<html>") },
			kid:  "good",
			code: lti.CodeKeySetUnavailable},
		{name: "larger than 1 MiB", status: 200, body: func(t *testing.T) []byte {
			b := jwks(t, good)
			return append(b[:len(b)-1], append(bytes.Repeat([]byte(" "), 1<<20), '}')...)
		}, kid: "good", code: lti.CodeKeySetUnavailable},
		{name: "only an ec key", status: 200, body: func(t *testing.T) []byte {
			return setOf(t, keyJSON(t, &ec.PublicKey, map[string]any{"kid": "good", "alg": "ES256"}))
		}, kid: "good", code: lti.CodeKeySetUnavailable},
		{name: "rsa key for RS512", status: 200, body: func(t *testing.T) []byte {
			return setOf(t, keyJSON(t, pub, map[string]any{"kid": "good", "alg": "RS512"}))
		}, kid: "good", code: lti.CodeKeySetUnavailable},
		{name: "rsa key for encryption", status: 200, body: func(t *testing.T) []byte {
			return setOf(t, keyJSON(t, pub, map[string]any{"kid": "good", "use": "enc"}))
		}, kid: "good", code: lti.CodeKeySetUnavailable},
		{name: "rsa key only for signing", status: 200, body: func(t *testing.T) []byte {
			return setOf(t, keyJSON(t, pub, map[string]any{"kid": "good", "key_ops": []string{"sign"}}))
		}, kid: "good", code: lti.CodeKeySetUnavailable},
		{name: "1024-bit rsa key", status: 200, body: func(t *testing.T) []byte {
			return setOf(t, keyJSON(t, &small.PublicKey, map[string]any{"kid": "good"}))
		}, kid: "good", code: lti.CodeKeySetUnavailable},
		{name: "key without alg counts as RS256", status: 200, body: func(t *testing.T) []byte {
			return setOf(t, keyJSON(t, pub, map[string]any{"kid": "good"}))
		}, kid: "good"},
		{name: "private key published: its public half is used", status: 200,
			body: func(t *testing.T) []byte {
				return setOf(t, keyJSON(t, good.key, map[string]any{"kid": "good"}))
			}, kid: "good"},
		{name: "unparseable neighbour ignored", status: 200, body: func(t *testing.T) []byte {
			return setOf(t, map[string]any{"kty": "XYZ", "kid": "odd"},
				keyJSON(t, pub, map[string]any{"kid": "good", "alg": "RS256"}))
		}, kid: "good"},
		{name: "no kid and two keys", status: 200, body: func(t *testing.T) []byte {
			return jwks(t, good, signer{testRSAKey(t, 1), "other"})
		}, kid: "", code: lti.CodeUnknownKey},
		{name: "no kid and one usable key among unusable ones", status: 200,
			body: func(t *testing.T) []byte {
				return setOf(t, keyJSON(t, pub, map[string]any{"kid": "good"}),
					keyJSON(t, &ec.PublicKey, map[string]any{"kid": "ec"}))
			}, kid: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newKeyServer(t, tt.body(t))
			srv.serve(tt.status, tt.body(t))
			c := cacheFor(srv, newClock(time.Unix(1_800_000_000, 0)))
			k, err := c.Key(context.Background(), srv.URL, tt.kid)
			if tt.code != "" {
				e := requireCode(t, err, tt.code)
				if tt.code == lti.CodeKeySetUnavailable {
					require.Equal(t, 502, e.Status)
					require.Error(t, e.Err)
				}
				return
			}
			require.NoError(t, err)
			require.True(t, k.Equal(pub))
		})
	}
}

func TestKeySetCacheUnreachable(t *testing.T) {
	t.Parallel()
	srv := newKeyServer(t, nil)
	srv.Close() // nothing listens there any more
	c := cacheFor(srv, newClock(time.Unix(1_800_000_000, 0)))
	_, err := c.Key(context.Background(), srv.URL, "a")
	requireCode(t, err, lti.CodeKeySetUnavailable)
	_, err = c.Key(context.Background(), "::not a url", "a")
	requireCode(t, err, lti.CodeKeySetUnavailable)
}

func TestKeySetCacheConcurrentMissesShareOneFetch(t *testing.T) {
	t.Parallel()
	a := signer{testRSAKey(t, 0), "a"}
	srv := newKeyServer(t, jwks(t, a))
	gate := make(chan struct{})
	srv.mu.Lock()
	srv.gate = gate
	srv.mu.Unlock()
	c := cacheFor(srv, newClock(time.Unix(1_800_000_000, 0)))

	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Key(context.Background(), srv.URL, "a")
			errs <- err
		}()
	}
	require.Eventually(t, func() bool { return srv.hits.Load() == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond) // let the other callers queue behind the fetch
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, srv.hits.Load())
}

func TestKeySetCacheCallerGivesUp(t *testing.T) {
	t.Parallel()
	srv := newKeyServer(t, jwks(t, signer{testRSAKey(t, 0), "a"}))
	gate := make(chan struct{})
	srv.mu.Lock()
	srv.gate = gate
	srv.mu.Unlock()
	t.Cleanup(func() { close(gate) })
	c := cacheFor(srv, newClock(time.Unix(1_800_000_000, 0)))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Key(ctx, srv.URL, "a")
	requireCode(t, err, lti.CodeKeySetUnavailable)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 2*time.Second)
}
