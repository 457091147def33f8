package lti_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

// The registration the Moodle fixtures were captured with.
const (
	moodleIssuer   = "http://127.0.0.1:8081"
	moodleClientID = "VryCb7iV0MyxRum"
	moodleKey11    = "moodle-lti11-key"
	moodleSecret11 = "moodle-lti11-secret"
)

// form is a captured auto-submitted form: action, method and fields in order.
type form struct {
	Action string      `json:"action"`
	Method string      `json:"method"`
	Fields [][2]string `json:"fields"`
}

func loadForm(t testing.TB, name string) form {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	var f form
	require.NoError(t, json.Unmarshal(b, &f))
	require.NotEmpty(t, f.Fields)
	return f
}

func (f form) values() url.Values {
	v := url.Values{}
	for _, kv := range f.Fields {
		v.Add(kv[0], kv[1])
	}
	return v
}

func readToken(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

// keyServer serves a JWKS document and counts the fetches.
type keyServer struct {
	*httptest.Server
	hits atomic.Int64

	mu     sync.Mutex
	body   []byte
	status int
	gate   chan struct{} // when set, requests wait until it is closed
}

func newKeyServer(t testing.TB, body []byte) *keyServer {
	t.Helper()
	s := &keyServer{body: body, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status, gate := s.body, s.status, s.gate
		s.mu.Unlock()
		if gate != nil {
			<-gate
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *keyServer) serve(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// clock is a settable time source safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

var (
	rsaKeysOnce sync.Once
	rsaKeys     []*rsa.PrivateKey
)

// testRSAKey returns one of a few RSA keys generated once per test binary,
// because generating them is slow.
func testRSAKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	rsaKeysOnce.Do(func() {
		for range 3 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys = append(rsaKeys, k)
		}
	})
	return rsaKeys[i]
}

// signer signs claim sets as a platform would.
type signer struct {
	key *rsa.PrivateKey
	kid string
}

// jwks returns a JWKS document with the public keys of the signers.
func jwks(t testing.TB, signers ...signer) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, s := range signers {
		k, err := jwk.FromRaw(&s.key.PublicKey)
		require.NoError(t, err)
		require.NoError(t, k.Set(jwk.KeyIDKey, s.kid))
		require.NoError(t, k.Set(jwk.AlgorithmKey, jwa.RS256))
		require.NoError(t, k.Set(jwk.KeyUsageKey, "sig"))
		require.NoError(t, set.AddKey(k))
	}
	b, err := json.Marshal(set)
	require.NoError(t, err)
	return b
}

// sign returns a compact JWS of claims, signed with alg and key, with the
// signer's kid in the header unless kid is "-".
func signWith(t testing.TB, claims map[string]any, alg jwa.SignatureAlgorithm, key any,
	kid string) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	require.NoError(t, err)
	h := jws.NewHeaders()
	if kid != "-" {
		require.NoError(t, h.Set(jws.KeyIDKey, kid))
	}
	tok, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(h)))
	require.NoError(t, err)
	return string(tok)
}

func (s signer) sign(t testing.TB, claims map[string]any) string {
	return signWith(t, claims, jwa.RS256, s.key, s.kid)
}

// A registration for minted tokens.
const (
	testIssuer     = "https://lms.example.test"
	testClientID   = "tool-client"
	testDeployment = "dep-1"
	testNonce      = "nonce-abc"
)

// validClaims returns a complete resource link launch issued at now.
func validClaims(now time.Time) map[string]any {
	return map[string]any{
		"iss":   testIssuer,
		"aud":   testClientID,
		"sub":   "user-17",
		"iat":   now.Unix(),
		"exp":   now.Add(time.Minute).Unix(),
		"nonce": testNonce,
		"name":  "Ada Lovelace",
		"email": "ada@example.test",
		"https://purl.imsglobal.org/spec/lti/claim/deployment_id": testDeployment,
		"https://purl.imsglobal.org/spec/lti/claim/version":       "1.3.0",
		"https://purl.imsglobal.org/spec/lti/claim/message_type":  "LtiResourceLinkRequest",
		"https://purl.imsglobal.org/spec/lti/claim/resource_link": map[string]any{"id": "rl-1"},
		"https://purl.imsglobal.org/spec/lti/claim/roles": []any{
			"http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",
		},
		"https://purl.imsglobal.org/spec/lti/claim/target_link_uri": "https://hub.example.test/lti/launch",
	}
}

// testPlatform is the registration of minted tokens, keys at jwksURL.
func testPlatform(jwksURL string) lti.Platform {
	return lti.Platform{
		ID: "p-test", Issuer: testIssuer, ClientID: testClientID,
		AuthURL: "https://lms.example.test/auth", JWKSURL: jwksURL, Deployments: []string{testDeployment},
	}
}

// lookupOf returns a PlatformLookup over the given registrations.
func lookupOf(platforms ...lti.Platform) lti.PlatformLookup {
	return func(_ context.Context, iss, clientID string) (lti.Platform, error) {
		for _, p := range platforms {
			if p.Issuer == iss && p.ClientID == clientID {
				return p, nil
			}
		}
		return lti.Platform{}, lti.ErrUnknownPlatform
	}
}

// requireCode asserts err is an *lti.Error with the code.
func requireCode(t testing.TB, err error, code string) *lti.Error {
	t.Helper()
	require.Error(t, err)
	var e *lti.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, code, e.Code, "error: %v", err)
	require.NotZero(t, e.Status)
	require.NotEmpty(t, e.Detail)
	return e
}
