package lms

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// generateRSAKey makes the platform's keys. Tests replace it with a pool of
// ready keys, because generating a 2048-bit key takes long enough to make a
// suite of many platforms slow.
var generateRSAKey = func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }

// signingKey is one of the platform's RSA keys with its key id.
type signingKey struct {
	kid  string
	priv jwk.Key
	pub  jwk.Key
}

// newSigningKey generates an RSA-2048 key. Moodle's kids are 20 hex digits;
// an empty kid gets one of those.
func newSigningKey(kid string) (*signingKey, error) {
	if kid == "" {
		kid = randomString(20, hexDigits)
	}
	raw, err := generateRSAKey()
	if err != nil {
		return nil, fmt.Errorf("generate rsa key: %w", err)
	}
	priv, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, fmt.Errorf("wrap rsa key: %w", err)
	}
	pub, err := jwk.FromRaw(&raw.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("wrap rsa public key: %w", err)
	}
	for _, k := range []jwk.Key{priv, pub} {
		for name, v := range map[string]any{
			jwk.KeyIDKey:     kid,
			jwk.AlgorithmKey: jwa.RS256,
			jwk.KeyUsageKey:  jwk.ForSignature,
		} {
			if err := k.Set(name, v); err != nil {
				return nil, fmt.Errorf("set jwk %s: %w", name, err)
			}
		}
	}
	return &signingKey{kid: kid, priv: priv, pub: pub}, nil
}

// RotateKey adds a new signing key. Later tokens are signed with it; the old
// keys stay in the key set so tokens already issued still verify.
func (p *Platform) RotateKey() error {
	k, err := newSigningKey("")
	if err != nil {
		return fmt.Errorf("rotate key: %w", err)
	}
	p.mu.Lock()
	p.keys = append(p.keys, k)
	p.mu.Unlock()
	return nil
}

// KeyID returns the kid of the key that signs new tokens.
func (p *Platform) KeyID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[len(p.keys)-1].kid
}

// JWKS returns the public key set as served at /mod/lti/certs.php.
func (p *Platform) JWKS() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.jwksLocked()
}

func (p *Platform) jwksLocked() []byte {
	set := jwk.NewSet()
	for _, k := range p.keys {
		if err := set.AddKey(k.pub); err != nil {
			panic(fmt.Sprintf("add distinct public key to set: %v", err)) // keys are distinct objects
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		panic(fmt.Sprintf("marshal public key set: %v", err)) // RSA public keys always marshal
	}
	return b
}

func (p *Platform) handleCerts(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.certsReqs++
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	// Brightspace rotates its keys hourly and forbids caching the set.
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(p.JWKS())
}

// IDToken signs claims as an id_token with the current platform key, the way
// Moodle signs its launches (RS256, typ JWT, kid). Tests use it to build
// tampered launches; it adds nothing to claims.
func (p *Platform) IDToken(claims map[string]any) (string, error) {
	payload, err := marshalJSON(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	return p.signPayload(payload)
}

// signPayload signs a JSON payload as a compact JWS.
func (p *Platform) signPayload(payload []byte) (string, error) {
	p.mu.Lock()
	k := p.keys[len(p.keys)-1]
	p.mu.Unlock()
	hdr := jws.NewHeaders()
	for name, v := range map[string]any{jws.TypeKey: "JWT", jws.KeyIDKey: k.kid} {
		if err := hdr.Set(name, v); err != nil {
			return "", fmt.Errorf("set jws header %s: %w", name, err)
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.RS256, k.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return string(tok), nil
}
