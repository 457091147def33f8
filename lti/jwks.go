package lti

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Defaults of a KeySetCache.
const (
	DefaultMinRefetchInterval = 30 * time.Second
	DefaultKeySetMaxAge       = time.Hour
	keySetFetchTimeout        = 10 * time.Second
	maxKeySetBytes            = 1 << 20
	// minRSABits follows RFC 7518 §3.3: RS256 keys MUST be 2048 bits or more.
	minRSABits = 2048
)

// KeySetCache fetches and caches platforms' public keysets (JWKS), per URL.
//
// A key id missing from the cached set triggers one refetch, unless the URL
// was fetched less than MinRefetchInterval ago, and concurrent misses share
// that fetch: a
// platform that rotates its keys hourly keeps working, while tokens with
// made-up key ids cannot make Labhub hammer the platform. A set older than
// MaxAge is refreshed on its next use; when a refresh fails, the keys already
// known stay in use. Only RSA keys for RS256 signatures are kept (a key
// without alg counts as RS256).
//
// The zero value is ready to use. A KeySetCache must not be copied after
// first use.
type KeySetCache struct {
	// Client fetches the keysets. If nil, a client with a 10 s timeout is
	// used. Responses larger than 1 MiB and non-2xx answers are errors.
	Client *http.Client
	// MinRefetchInterval is the least time between two fetches of one URL.
	// If zero, DefaultMinRefetchInterval is used.
	MinRefetchInterval time.Duration
	// MaxAge is how long a fetched set is used before it is refreshed. If
	// zero, DefaultKeySetMaxAge is used.
	MaxAge time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time

	// mu protects sets and every keySetEntry in it.
	mu sync.Mutex
	// TODO: sets are kept per URL until the process ends; registrations
	// removed at run time leave theirs behind (a few kilobytes each) until
	// the cache gets a way to forget a URL.
	sets map[string]*keySetEntry
}

type keySetEntry struct {
	keys      []verifyKey
	fetchedAt time.Time // last successful fetch
	triedAt   time.Time // last fetch attempt
	lastErr   error     // error of the last attempt, nil after a success
	inflight  *keySetFetch
}

// keySetFetch is one fetch in progress; done is closed when it ends.
type keySetFetch struct{ done chan struct{} }

type verifyKey struct {
	kid string
	pub *rsa.PublicKey
}

// find returns the key with the key id, or the set's only key when kid is "".
func (e *keySetEntry) find(kid string) (*rsa.PublicKey, bool) {
	if kid == "" {
		if len(e.keys) == 1 {
			return e.keys[0].pub, true
		}
		return nil, false
	}
	i := slices.IndexFunc(e.keys, func(k verifyKey) bool { return k.kid == kid })
	if i < 0 {
		return nil, false
	}
	return e.keys[i].pub, true
}

// Key returns the RS256 verification key with the key id from the keyset at
// jwksURL, fetching the set when needed. An empty kid matches only when the
// set has exactly one usable key. Failures are [*Error] values with code
// unknown_key or keyset_unavailable.
func (c *KeySetCache) Key(ctx context.Context, jwksURL, kid string) (*rsa.PublicKey, error) {
	waited := false
	for {
		c.mu.Lock()
		if c.sets == nil {
			c.sets = make(map[string]*keySetEntry)
		}
		e := c.sets[jwksURL]
		if e == nil {
			e = &keySetEntry{}
			c.sets[jwksURL] = e
		}
		now := c.now()
		key, found := e.find(kid)
		fresh := now.Sub(e.fetchedAt) < c.maxAge()
		mayFetch := e.triedAt.IsZero() || now.Sub(e.triedAt) >= c.minRefetch()
		if found {
			// A stale set is refreshed in the background: its keys are
			// still the best knowledge there is, and the caller need not wait.
			if !fresh && mayFetch && e.inflight == nil {
				c.startFetchLocked(ctx, jwksURL, e, now)
			}
			c.mu.Unlock()
			return key, nil
		}
		if waited || e.inflight == nil && !mayFetch {
			hadKeys, lastErr := len(e.keys) > 0, e.lastErr
			c.mu.Unlock()
			return nil, keyMissError(jwksURL, kid, hadKeys, lastErr)
		}
		call := e.inflight
		if call == nil {
			call = c.startFetchLocked(ctx, jwksURL, e, now)
		}
		c.mu.Unlock()
		select {
		case <-call.done:
		case <-ctx.Done():
			return nil, newError(CodeKeySetUnavailable, http.StatusServiceUnavailable, "", ctx.Err(),
				"gave up waiting for the platform keyset")
		}
		waited = true
	}
}

func keyMissError(jwksURL, kid string, hadKeys bool, fetchErr error) *Error {
	if !hadKeys && fetchErr != nil {
		return newError(CodeKeySetUnavailable, http.StatusBadGateway,
			"Check the platform's public keyset URL in Labhub's registration of the platform; "+
				"it must be reachable from Labhub.",
			fetchErr, "cannot fetch the platform keyset %s", quote(jwksURL))
	}
	return newError(CodeUnknownKey, http.StatusUnauthorized,
		"The platform signed the launch with a key its public keyset URL does not publish; "+
			"check the keyset URL in Labhub's registration of the platform.",
		fetchErr, "no RS256 key with kid %s in the platform keyset %s", quote(kid), quote(jwksURL))
}

// startFetchLocked starts fetching the set into e. The fetch outlives the
// caller's context, because others may wait for it; the client's timeout
// bounds it.
func (c *KeySetCache) startFetchLocked(
	ctx context.Context, jwksURL string, e *keySetEntry, now time.Time,
) *keySetFetch {
	call := &keySetFetch{done: make(chan struct{})}
	e.inflight, e.triedAt = call, now
	go c.fetchInto(context.WithoutCancel(ctx), jwksURL, e, call)
	return call
}

// fetchInto fetches the set and stores the outcome in e. A failed fetch keeps
// the keys e already has.
func (c *KeySetCache) fetchInto(
	ctx context.Context, jwksURL string, e *keySetEntry, call *keySetFetch,
) {
	keys, err := c.fetch(ctx, jwksURL)
	c.mu.Lock()
	if err == nil {
		e.keys, e.fetchedAt, e.lastErr = keys, c.now(), nil
	} else {
		e.lastErr = err
	}
	e.inflight = nil
	c.mu.Unlock()
	close(call.done)
}

func (c *KeySetCache) fetch(ctx context.Context, jwksURL string) ([]verifyKey, error) {
	ctx, cancel := context.WithTimeout(ctx, keySetFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch keyset: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: keySetFetchTimeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch keyset: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("fetch keyset: answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeySetBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch keyset: read body: %w", err)
	}
	if len(body) > maxKeySetBytes {
		return nil, fmt.Errorf("fetch keyset: body larger than %d bytes", maxKeySetBytes)
	}
	// One key of a type jwx cannot parse must not hide the others.
	set, err := jwk.Parse(body, jwk.WithIgnoreParseError(true))
	if err != nil {
		return nil, fmt.Errorf("fetch keyset: parse: %w", err)
	}
	keys := usableKeys(set)
	if len(keys) == 0 {
		return nil, errors.New("fetch keyset: no RSA key usable for RS256 signatures")
	}
	return keys, nil
}

// usableKeys returns the public RSA keys of a set that may verify RS256
// signatures.
func usableKeys(set jwk.Set) []verifyKey {
	var keys []verifyKey
	for i := 0; i < set.Len(); i++ {
		k, ok := set.Key(i)
		if !ok || k.KeyType() != jwa.RSA {
			continue
		}
		if alg := k.Algorithm().String(); alg != "" && alg != jwa.RS256.String() {
			continue
		}
		if use := k.KeyUsage(); use != "" && use != "sig" {
			continue
		}
		if ops := k.KeyOps(); len(ops) > 0 && !slices.Contains(ops, jwk.KeyOpVerify) {
			continue
		}
		pk, err := k.PublicKey()
		if err != nil {
			continue
		}
		pub := &rsa.PublicKey{}
		if err := pk.Raw(pub); err != nil || pub.N == nil || pub.N.BitLen() < minRSABits {
			continue
		}
		keys = append(keys, verifyKey{kid: k.KeyID(), pub: pub})
	}
	return keys
}

func (c *KeySetCache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *KeySetCache) minRefetch() time.Duration {
	if c.MinRefetchInterval > 0 {
		return c.MinRefetchInterval
	}
	return DefaultMinRefetchInterval
}

func (c *KeySetCache) maxAge() time.Duration {
	if c.MaxAge > 0 {
		return c.MaxAge
	}
	return DefaultKeySetMaxAge
}
