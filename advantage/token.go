// Package advantage calls the LTI Advantage services of a platform on
// Labhub's behalf (Names and Role Provisioning, Assignment and Grade
// Services, Dynamic Registration). Every call carries an OAuth 2 access token that Tokens obtains
// with the client_credentials grant and a JWT assertion signed with the
// tool's key (1EdTech Security Framework §4.1), caching it per platform and
// scope set.
//
// advantage depends on lti (the Platform type) and nothing else of ours.
package advantage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/labhub/labhub/lti"
)

// Signer gives the key the tool signs with; toolkey.Keys implements it.
type Signer interface {
	Signer() (jwk.Key, error)
}

// Error is a failed service or token call.
type Error struct {
	// Status is the HTTP status, 0 when no answer came.
	Status int
	// Code is the OAuth error code of a token endpoint, if any.
	Code string
	// TokenEndpoint reports that the platform's token endpoint answered
	// (refusing Labhub's client assertion or failing), not a service.
	TokenEndpoint bool
	// Permanent reports whether repeating the call cannot help until
	// someone changes a registration (wrong client id, key or scope).
	Permanent bool
	// RetryAfter is how long the platform asked callers to wait, 0 when
	// it did not say.
	RetryAfter time.Duration
	Detail     string
	Err        error
}

func (e *Error) Error() string {
	s := e.Detail
	if e.Status != 0 {
		s = fmt.Sprintf("%s (HTTP %d)", s, e.Status)
	}
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Tokens obtains and caches access tokens. The zero value needs Keys set;
// it must not be copied after first use.
type Tokens struct {
	// Keys signs the assertions. It must be set.
	Keys Signer
	// Client sends the token requests; nil means a client with a 20 s
	// timeout.
	Client *http.Client
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	// mu protects cache and requests.
	mu       sync.Mutex
	cache    map[cacheKey]*cached
	requests int
}

type cacheKey struct{ tokenURL, clientID, scopes string }

type cached struct {
	token   string
	expires time.Time
	// fetched is when the token was obtained.
	fetched time.Time
	// renewed reports whether the token replaced one a service refused.
	renewed bool
	// done is closed when a fetch under way ends; nil when none is.
	done chan struct{}
	err  error
}

// Requests returns how many token requests were sent.
func (t *Tokens) Requests() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.requests
}

func (t *Tokens) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

func (t *Tokens) client() *http.Client {
	if t.Client != nil {
		return t.Client
	}
	return &http.Client{Timeout: defaultTimeout}
}

// defaultTimeout bounds a call to a platform when no client is given.
const defaultTimeout = 20 * time.Second

// key normalises a scope set: order and duplicates do not matter.
func key(p lti.Platform, scopes []string) cacheKey {
	s := slices.Clone(scopes)
	slices.Sort(s)
	s = slices.Compact(s)
	return cacheKey{p.TokenURL, p.ClientID, strings.Join(s, " ")}
}

// Token returns an access token for scopes on platform p, from the cache
// while it has more than a minute to live. Concurrent callers for the same
// platform and scopes share one request.
func (t *Tokens) Token(ctx context.Context, p lti.Platform, scopes []string) (string, error) {
	return t.token(ctx, p, scopes, false)
}

// token is Token; a token it fetches is marked as a replacement when
// renewed is set.
func (t *Tokens) token(ctx context.Context, p lti.Platform, scopes []string, renewed bool) (string, error) {
	if p.TokenURL == "" {
		return "", &Error{Permanent: true, Detail: "the platform registration has no token URL"}
	}
	k := key(p, scopes)
	for {
		t.mu.Lock()
		if t.cache == nil {
			t.cache = map[cacheKey]*cached{}
		}
		c := t.cache[k]
		switch {
		case c != nil && c.done != nil:
			done := c.done
			t.mu.Unlock()
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		case c != nil && c.err == nil && t.now().Add(time.Minute).Before(c.expires):
			tok := c.token
			t.mu.Unlock()
			return tok, nil
		case c != nil && c.err != nil && t.now().Before(c.expires):
			err := c.err
			t.mu.Unlock()
			return "", err
		}
		c = &cached{done: make(chan struct{}), renewed: renewed}
		t.cache[k] = c
		t.requests++
		t.mu.Unlock()

		tok, ttl, err := t.fetch(ctx, p, k.scopes)
		t.mu.Lock()
		c.token, c.err = tok, err
		c.fetched = t.now()
		c.expires = c.fetched.Add(ttl)
		close(c.done)
		c.done = nil
		if refusedClient(err) {
			// The platform refused Labhub itself (client id, key, clock):
			// every call would be refused the same way for a while.
			c.expires = c.fetched.Add(refusalQuiet)
		} else if err != nil {
			// Other errors are not cached: the next caller tries again.
			delete(t.cache, k)
		}
		t.mu.Unlock()
		return tok, err
	}
}

// refusalQuiet is how long a token endpoint's refusal of Labhub's client
// assertion is answered from the cache, so that a batch of grades costs one
// token request, not one per grade.
const refusalQuiet = time.Minute

// refusedClient reports whether err is the token endpoint's permanent
// refusal of Labhub's request.
func refusedClient(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.TokenEndpoint && e.Permanent
}

// ForgetRefusals drops the cached refusals of the token endpoints, so the
// next call asks again: after an administrator fixed a registration.
func (t *Tokens) ForgetRefusals() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, c := range t.cache {
		if c.done == nil && c.err != nil {
			delete(t.cache, k)
		}
	}
}

// Forget drops the cached token for p and scopes, for example after a
// service answered 401 with it.
func (t *Tokens) Forget(p lti.Platform, scopes []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.cache[key(p, scopes)]; c != nil && c.done == nil {
		delete(t.cache, key(p, scopes))
	}
}

// renewQuiet is how long a token that replaced a refused one is not
// replaced in turn when it is refused too. A platform that refuses a fresh
// replacement refuses Labhub itself (or never sees its Authorization
// header); more tokens would be refused as well, so renewing again would
// only loop.
const renewQuiet = 10 * time.Minute

// Renew returns a token for p and scopes in place of bad, which a service
// refused (a platform that restarted forgets its tokens): the cached token
// is dropped if it is still bad, and concurrent callers renewing the same
// token share one request for its successor. A bad token that is itself a
// recent replacement is returned as it is, so a platform that refuses every
// token costs one token request, not one per call.
func (t *Tokens) Renew(ctx context.Context, p lti.Platform, scopes []string, bad string) (string, error) {
	k := key(p, scopes)
	t.mu.Lock()
	if c := t.cache[k]; c != nil && c.done == nil && c.token == bad {
		if c.renewed && t.now().Sub(c.fetched) < renewQuiet {
			t.mu.Unlock()
			return bad, nil
		}
		delete(t.cache, k)
	}
	t.mu.Unlock()
	return t.token(ctx, p, scopes, true)
}

// fetch sends one token request.
func (t *Tokens) fetch(ctx context.Context, p lti.Platform, scope string) (string, time.Duration, error) {
	assertion, err := t.assertion(p)
	if err != nil {
		return "", 0, &Error{Permanent: true, Detail: "sign token request", Err: err}
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
		"scope":                 {scope},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, &Error{Permanent: true, Detail: "build token request", Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := t.client().Do(req)
	if err != nil {
		return "", 0, &Error{Detail: "request an access token from " + p.TokenURL, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, &Error{Status: resp.StatusCode, TokenEndpoint: true, Detail: "read token response", Err: err}
	}
	var out struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		Error       string          `json:"error"`
		Description string          `json:"error_description"`
	}
	_ = json.Unmarshal(body, &out)
	if resp.StatusCode/100 != 2 || out.AccessToken == "" {
		e := &Error{Status: resp.StatusCode, Code: out.Error, TokenEndpoint: true,
			Detail: "the token endpoint refused Labhub's request"}
		if out.Description != "" {
			e.Detail += ": " + out.Description
		}
		// A refusal is about the registration (client id, key, scopes);
		// only server trouble and rate limits are worth repeating.
		e.Permanent = resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests &&
			resp.StatusCode != http.StatusRequestTimeout
		return "", 0, e
	}
	ttl := time.Hour
	var secs float64
	if json.Unmarshal(out.ExpiresIn, &secs) == nil && secs > 0 {
		ttl = time.Duration(secs * float64(time.Second))
	} else {
		var s string
		if json.Unmarshal(out.ExpiresIn, &s) == nil {
			if n, err := json.Number(s).Float64(); err == nil && n > 0 {
				ttl = time.Duration(n * float64(time.Second))
			}
		}
	}
	return out.AccessToken, ttl, nil
}

// assertion is the signed JWT that authenticates Labhub to the token
// endpoint: issuer and subject are the client id, the audience is the
// platform's token audience (Brightspace) or else its token URL.
func (t *Tokens) assertion(p lti.Platform) (string, error) {
	k, err := t.Keys.Signer()
	if err != nil {
		return "", err
	}
	aud := p.TokenAudience
	if aud == "" {
		aud = p.TokenURL
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	now := t.now()
	tok, err := jwt.NewBuilder().Issuer(p.ClientID).Subject(p.ClientID).Audience([]string{aud}).
		IssuedAt(now).Expiration(now.Add(5 * time.Minute)).JwtID(hex.EncodeToString(jti)).Build()
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, k))
	if err != nil {
		return "", err
	}
	return string(signed), nil
}

// IsPermanent reports whether err is a service error that repeating cannot
// fix.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}
