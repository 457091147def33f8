package lti_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

// minted is a platform whose tokens the tests sign themselves.
type minted struct {
	v     *lti.LTI13Verifier
	store *lti.MemoryNonceStore
	srv   *keyServer
	s     signer
	clk   *clock
}

func newMinted(t testing.TB) *minted {
	t.Helper()
	s := signer{testRSAKey(t, 0), "key-1"}
	srv := newKeyServer(t, jwks(t, s))
	clk := newClock(time.Unix(1_800_000_000, 0))
	store := &lti.MemoryNonceStore{Now: clk.now}
	return &minted{
		v: &lti.LTI13Verifier{
			Keys:   &lti.KeySetCache{Client: srv.Client(), Now: clk.now},
			Lookup: lookupOf(testPlatform(srv.URL)),
			Nonces: store,
			Now:    clk.now,
		},
		store: store, srv: srv, s: s, clk: clk,
	}
}

func rawToken(header, claims map[string]any, sig string) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc(h) + "." + enc(c) + "." + sig
}

func TestLTI13Rejections(t *testing.T) {
	t.Parallel()
	const (
		ltiNS = "https://purl.imsglobal.org/spec/lti/claim/"
		dlNS  = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
	)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&testRSAKey(t, 0).PublicKey)
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	tests := []struct {
		name   string
		claims func(c map[string]any)
		// token signs the claims; nil means the platform's RS256 key.
		token  func(t *testing.T, m *minted, c map[string]any) string
		setup  func(m *minted)
		nonce  string // "" means testNonce
		code   string
		status int
	}{
		{name: "not a jws",
			token: func(*testing.T, *minted, map[string]any) string { return "not-a-token" },
			code:  lti.CodeBadToken, status: 400},
		{name: "json serialisation", token: func(*testing.T, *minted, map[string]any) string {
			return `{"payload":"e30","signatures":[]}`
		}, code: lti.CodeBadToken, status: 400},
		{name: "alg none", token: func(_ *testing.T, m *minted, c map[string]any) string {
			return rawToken(map[string]any{"alg": "none", "kid": m.s.kid}, c, "")
		}, code: lti.CodeBadAlgorithm, status: 401},
		{name: "alg none with a signature",
			token: func(_ *testing.T, m *minted, c map[string]any) string {
				return rawToken(map[string]any{"alg": "none", "kid": m.s.kid}, c, "c2ln")
			}, code: lti.CodeBadAlgorithm, status: 401},
		{name: "hs256 keyed with the public key pem",
			token: func(t *testing.T, m *minted, c map[string]any) string {
				return signWith(t, c, jwa.HS256, pubPEM, m.s.kid)
			}, code: lti.CodeBadAlgorithm, status: 401},
		{name: "hs256 keyed with the modulus",
			token: func(t *testing.T, m *minted, c map[string]any) string {
				return signWith(t, c, jwa.HS256, m.s.key.N.Bytes(), m.s.kid)
			}, code: lti.CodeBadAlgorithm, status: 401},
		{name: "rs512", token: func(t *testing.T, m *minted, c map[string]any) string {
			return signWith(t, c, jwa.RS512, m.s.key, m.s.kid)
		}, code: lti.CodeBadAlgorithm, status: 401},
		{name: "ps256", token: func(t *testing.T, m *minted, c map[string]any) string {
			return signWith(t, c, jwa.PS256, m.s.key, m.s.kid)
		}, code: lti.CodeBadAlgorithm, status: 401},
		{name: "es256", token: func(t *testing.T, m *minted, c map[string]any) string {
			return signWith(t, c, jwa.ES256, ec, m.s.kid)
		}, code: lti.CodeBadAlgorithm, status: 401},
		{name: "critical header", token: func(t *testing.T, m *minted, c map[string]any) string {
			good := m.s.sign(t, c)
			header := map[string]any{"alg": "RS256", "kid": m.s.kid, "crit": []string{"b64"}, "b64": false}
			return rawToken(header, c,
				good[strings.LastIndex(good, ".")+1:])
		}, code: lti.CodeBadToken, status: 400},
		{name: "numeric kid", token: func(_ *testing.T, _ *minted, c map[string]any) string {
			return rawToken(map[string]any{"alg": "RS256", "kid": 1}, c, "c2ln")
		}, code: lti.CodeBadToken, status: 400},
		{name: "signed by another key under the same kid",
			token: func(t *testing.T, m *minted, c map[string]any) string {
				return signer{testRSAKey(t, 1), m.s.kid}.sign(t, c)
			}, code: lti.CodeBadSignature, status: 401},
		{name: "empty signature", token: func(t *testing.T, m *minted, c map[string]any) string {
			good := m.s.sign(t, c)
			return good[:strings.LastIndex(good, ".")+1]
		}, code: lti.CodeBadSignature, status: 401},
		{name: "unknown kid", token: func(t *testing.T, m *minted, c map[string]any) string {
			return signer{m.s.key, "key-2"}.sign(t, c)
		}, code: lti.CodeUnknownKey, status: 401},
		{name: "missing iss", claims: func(c map[string]any) { delete(c, "iss") },
			code: lti.CodeBadIssuer, status: 400},
		{name: "other issuer", claims: func(c map[string]any) { c["iss"] = "https://evil.test" },
			code: lti.CodeUnknownPlatform, status: 401},
		{name: "wrong aud", claims: func(c map[string]any) { c["aud"] = "someone-else" },
			code: lti.CodeUnknownPlatform, status: 401},
		{name: "aud missing", claims: func(c map[string]any) { delete(c, "aud") },
			code: lti.CodeBadAudience, status: 401},
		{name: "aud number", claims: func(c map[string]any) { c["aud"] = 5 }, code: lti.CodeBadAudience,
			status: 401},
		{name: "aud empty list", claims: func(c map[string]any) { c["aud"] = []string{} },
			code: lti.CodeBadAudience, status: 401},
		{name: "aud list without azp",
			claims: func(c map[string]any) { c["aud"] = []string{testClientID, "other"} },
			code:   lti.CodeMissingAZP, status: 401},
		{name: "azp not in aud", claims: func(c map[string]any) {
			c["aud"] = []string{testClientID, "other"}
			c["azp"] = "third"
		}, code: lti.CodeBadAZP, status: 401},
		{name: "azp names another audience", claims: func(c map[string]any) {
			c["aud"] = []string{testClientID, "other"}
			c["azp"] = "other"
		}, code: lti.CodeUnknownPlatform, status: 401},
		{name: "lookup answers for another issuer", setup: func(m *minted) {
			m.v.Lookup = func(context.Context, string, string) (lti.Platform, error) {
				return lti.Platform{ID: "x", Issuer: "https://other.test", ClientID: testClientID}, nil
			}
		}, code: lti.CodeUnknownPlatform, status: 401},
		{name: "lookup fails", setup: func(m *minted) {
			m.v.Lookup = func(context.Context, string, string) (lti.Platform, error) {
				return lti.Platform{}, errors.New("db down")
			}
		}, code: lti.CodeStoreError, status: 500},
		{name: "expired", claims: func(c map[string]any) {
			c["iat"] = time.Unix(1_800_000_000, 0).Add(-5 * time.Minute).Unix()
			c["exp"] = time.Unix(1_800_000_000, 0).Add(-lti.DefaultLeeway - time.Second).Unix()
		}, code: lti.CodeExpired, status: 401},
		{name: "exp missing", claims: func(c map[string]any) { delete(c, "exp") },
			code: lti.CodeBadToken, status: 400},
		{name: "exp a string", claims: func(c map[string]any) { c["exp"] = "1800000060" },
			code: lti.CodeBadToken, status: 400},
		{name: "exp absurd", claims: func(c map[string]any) { c["exp"] = 1e300 }, code: lti.CodeBadToken,
			status: 400},
		{name: "iat in the future", claims: func(c map[string]any) {
			c["iat"] = time.Unix(1_800_000_000, 0).Add(lti.DefaultLeeway + time.Second).Unix()
			c["exp"] = time.Unix(1_800_000_000, 0).Add(time.Hour).Unix()
		}, code: lti.CodeIssuedInFuture, status: 401},
		{name: "iat too old", claims: func(c map[string]any) {
			c["iat"] = time.Unix(1_800_000_000,
				0).Add(-lti.DefaultMaxAge - lti.DefaultLeeway - time.Second).Unix()
			c["exp"] = time.Unix(1_800_000_000, 0).Add(time.Hour).Unix()
		}, code: lti.CodeStaleToken, status: 401},
		{name: "iat missing", claims: func(c map[string]any) { delete(c, "iat") },
			code: lti.CodeBadToken, status: 400},
		{name: "nbf in the future", claims: func(c map[string]any) {
			c["nbf"] = time.Unix(1_800_000_000, 0).Add(lti.DefaultLeeway + time.Second).Unix()
		}, code: lti.CodeNotYetValid, status: 401},
		{name: "nbf not a number", claims: func(c map[string]any) { c["nbf"] = true },
			code: lti.CodeBadToken, status: 400},
		{name: "wrong nonce", nonce: "another", code: lti.CodeBadNonce, status: 401},
		{name: "empty nonces never match", claims: func(c map[string]any) { c["nonce"] = "" }, nonce: "-",
			code: lti.CodeBadNonce, status: 401},
		{name: "nonce missing", claims: func(c map[string]any) { delete(c, "nonce") },
			code: lti.CodeBadNonce, status: 401},
		{name: "unknown deployment",
			claims: func(c map[string]any) { c[ltiNS+"deployment_id"] = "dep-2" },
			code:   lti.CodeUnknownDeployment, status: 403},
		{name: "empty deployment", claims: func(c map[string]any) { c[ltiNS+"deployment_id"] = "" },
			code: lti.CodeMissingDeployment, status: 400},
		{name: "deployment refused by the policy hook", setup: func(m *minted) {
			m.v.AcceptDeployment = func(context.Context, lti.Platform,
				string) error {
				return errors.New("not today")
			}
		}, code: lti.CodeUnknownDeployment, status: 403},
		{name: "policy hook error passed through", setup: func(m *minted) {
			m.v.AcceptDeployment = func(context.Context, lti.Platform, string) error {
				return &lti.Error{Code: "deployment_pending", Status: 403, Detail: "awaiting approval"}
			}
		}, code: "deployment_pending", status: 403},
		{name: "wrong version", claims: func(c map[string]any) { c[ltiNS+"version"] = "1.2.0" },
			code: lti.CodeBadVersion, status: 400},
		{name: "version missing", claims: func(c map[string]any) { delete(c, ltiNS+"version") },
			code: lti.CodeBadVersion, status: 400},
		{name: "unknown message type",
			claims: func(c map[string]any) { c[ltiNS+"message_type"] = "LtiSubmissionReviewRequest" },
			code:   lti.CodeUnsupported, status: 400},
		{name: "message type missing", claims: func(c map[string]any) { delete(c, ltiNS+"message_type") },
			code: lti.CodeUnsupported, status: 400},
		{name: "resource link without id",
			claims: func(c map[string]any) { c[ltiNS+"resource_link"] = map[string]any{"title": "x"} },
			code:   lti.CodeMissingResource, status: 400},
		{name: "resource link claim missing",
			claims: func(c map[string]any) { delete(c, ltiNS+"resource_link") },
			code:   lti.CodeMissingResource, status: 400},
		{name: "deep linking without return url", claims: func(c map[string]any) {
			c[ltiNS+"message_type"] = "LtiDeepLinkingRequest"
			c[dlNS] = map[string]any{"accept_types": []string{"ltiResourceLink"}}
		}, code: lti.CodeMissingReturnURL, status: 400},
		{name: "missing sub", claims: func(c map[string]any) { delete(c, "sub") },
			code: lti.CodeMissingSubject, status: 400},
		{name: "missing roles", claims: func(c map[string]any) { delete(c, ltiNS+"roles") },
			code: lti.CodeMissingRoles, status: 400},
		{name: "roles not a list", claims: func(c map[string]any) { c[ltiNS+"roles"] = "Instructor" },
			code: lti.CodeMissingRoles, status: 400},
		{name: "nonce store fails", setup: func(m *minted) { m.v.Nonces = failingStore{} },
			code: lti.CodeStoreError, status: 500},
		{name: "no key cache", setup: func(m *minted) { m.v.Keys = nil }, code: lti.CodeMisconfigured,
			status: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMinted(t)
			c := validClaims(m.clk.now())
			if tt.claims != nil {
				tt.claims(c)
			}
			if tt.setup != nil {
				tt.setup(m)
			}
			tok := ""
			if tt.token != nil {
				tok = tt.token(t, m, c)
			} else {
				tok = m.s.sign(t, c)
			}
			nonce := testNonce
			switch tt.nonce {
			case "-":
				nonce = ""
			case "":
			default:
				nonce = tt.nonce
			}
			_, _, err := m.v.Verify(context.Background(), tok, nonce)
			e := requireCode(t, err, tt.code)
			require.Equal(t, tt.status, e.Status)
			require.Zero(t, m.store.Len(), "a rejected token recorded its nonce")
		})
	}
}

func TestLTI13Accepts(t *testing.T) {
	t.Parallel()
	const ltiNS = "https://purl.imsglobal.org/spec/lti/claim/"
	tests := []struct {
		name   string
		claims func(c map[string]any)
		setup  func(m *minted)
		kid    string
		check  func(t *testing.T, l *lti.Launch, p lti.Platform)
	}{
		{name: "plain"},
		{name: "aud list with azp", claims: func(c map[string]any) {
			c["aud"] = []string{"other", testClientID}
			c["azp"] = testClientID
		}, check: func(t *testing.T, l *lti.Launch, _ lti.Platform) {
			require.Equal(t, testClientID, l.ClientID)
		}},
		{name: "aud list of one without azp",
			claims: func(c map[string]any) { c["aud"] = []string{testClientID} }},
		{name: "token without kid and a single key", kid: "-"},
		{name: "fractional times", claims: func(c map[string]any) {
			c["iat"] = float64(time.Unix(1_800_000_000, 0).Unix()) - 0.5
			c["exp"] = float64(time.Unix(1_800_000_000, 0).Unix()) + 30.25
		}},
		{name: "nbf in the past",
			claims: func(c map[string]any) {
				c["nbf"] = time.Unix(1_800_000_000,
					0).Add(-time.Minute).Unix()
			}},
		{name: "empty roles", claims: func(c map[string]any) { c[ltiNS+"roles"] = []string{} },
			check: func(t *testing.T, l *lti.Launch,
				_ lti.Platform) {
				require.Equal(t, lti.Roles{}, l.Roles)
			}},
		{name: "deployment accepted by the policy hook",
			claims: func(c map[string]any) { c[ltiNS+"deployment_id"] = "new" },
			setup: func(m *minted) {
				m.v.AcceptDeployment = func(_ context.Context, p lti.Platform, id string) error {
					if p.ID == "p-test" && id == "new" {
						return nil
					}
					return errors.New("no")
				}
			},
			check: func(t *testing.T, l *lti.Launch,
				_ lti.Platform) {
				require.Equal(t, "new", l.DeploymentID)
			}},
		{name: "instructor with roles mapping",
			setup: func(m *minted) { m.v.Roles = lti.RoleMapping{Instructor: []string{"Mentor"}} },
			claims: func(c map[string]any) {
				c[ltiNS+"roles"] = []string{"http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"}
			},
			check: func(t *testing.T, l *lti.Launch, _ lti.Platform) {
				require.Equal(t, lti.RoleInstructor, l.Roles.Course)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMinted(t)
			c := validClaims(m.clk.now())
			if tt.claims != nil {
				tt.claims(c)
			}
			if tt.setup != nil {
				tt.setup(m)
			}
			kid := m.s.kid
			if tt.kid != "" {
				kid = tt.kid
			}
			tok := signWith(t, c, jwa.RS256, m.s.key, kid)
			l, p, err := m.v.Verify(context.Background(), tok, testNonce)
			require.NoError(t, err)
			require.Equal(t, "p-test", p.ID)
			require.Equal(t, "user-17", l.Subject)
			if tt.check != nil {
				tt.check(t, l, p)
			}
			require.Equal(t, 1, m.store.Len())
		})
	}
}

// TestLTI13UnknownKidRefetchesOnce counts the keyset fetches a token with an
// unknown kid causes: one refetch, then none while the interval lasts.
func TestLTI13UnknownKidRefetchesOnce(t *testing.T) {
	t.Parallel()
	m := newMinted(t)
	ctx := context.Background()
	_, _, err := m.v.Verify(ctx, m.s.sign(t, validClaims(m.clk.now())), testNonce)
	require.NoError(t, err)
	require.EqualValues(t, 1, m.srv.hits.Load())

	m.clk.advance(lti.DefaultMinRefetchInterval)
	rogue := signer{testRSAKey(t, 2), "rogue"}
	for range 5 {
		c := validClaims(m.clk.now())
		_, _, err = m.v.Verify(ctx, rogue.sign(t, c), testNonce)
		requireCode(t, err, lti.CodeUnknownKey)
	}
	require.EqualValues(t, 2, m.srv.hits.Load())

	// The platform rotates to a new key: once the interval has passed, the
	// new key is fetched and accepted.
	next := signer{testRSAKey(t, 1), "key-2"}
	m.srv.serve(200, jwks(t, m.s, next))
	m.clk.advance(lti.DefaultMinRefetchInterval)
	c := validClaims(m.clk.now())
	c["nonce"] = "second"
	_, _, err = m.v.Verify(ctx, next.sign(t, c), "second")
	require.NoError(t, err)
	require.EqualValues(t, 3, m.srv.hits.Load())
}
