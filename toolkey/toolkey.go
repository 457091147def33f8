// Package toolkey keeps Labhub's own RSA signing keys, the ones platforms
// verify Labhub with (deep-linking responses, service token requests) and
// that /lti/jwks publishes. Private keys are stored sealed; the first start
// generates one.
//
// toolkey depends on seal and store.
package toolkey

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/labhub/labhub/seal"
	"github.com/labhub/labhub/store"
)

const label = "tool-private-key"

// Keys manages the tool keys.
type Keys struct {
	db   *store.DB
	seal *seal.Keyring
	now  func() time.Time

	// mu protects the cache below.
	mu      sync.Mutex
	private []jwk.Key // live keys, newest first
}

// New returns the key manager.
func New(db *store.DB, s *seal.Keyring, now func() time.Time) *Keys {
	if now == nil {
		now = time.Now
	}
	return &Keys{db: db, seal: s, now: now}
}

// Ensure loads the live keys and generates one when there is none.
func (k *Keys) Ensure(ctx context.Context) error {
	if err := k.load(ctx); err != nil {
		return err
	}
	k.mu.Lock()
	n := len(k.private)
	k.mu.Unlock()
	if n > 0 {
		return nil
	}
	_, err := k.Generate(ctx)
	return err
}

// Generate creates a new key and returns its kid.
func (k *Keys) Generate(ctx context.Context) (string, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("generate rsa key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("encode rsa key: %w", err)
	}
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		return "", fmt.Errorf("build jwk: %w", err)
	}
	tp, err := pub.Thumbprint(cryptoSHA256)
	if err != nil {
		return "", fmt.Errorf("key thumbprint: %w", err)
	}
	kid := fmt.Sprintf("%x", tp[:12])
	sealed, err := k.seal.Seal(label+"\x00"+kid, der)
	if err != nil {
		return "", err
	}
	row := store.ToolKey{KID: kid, PrivateSealed: sealed, CreatedAt: k.now().UTC()}
	if err := k.db.WithContext(ctx).Create(&row).Error; err != nil {
		return "", fmt.Errorf("store tool key: %w", err)
	}
	return kid, k.load(ctx)
}

func (k *Keys) load(ctx context.Context) error {
	var rows []store.ToolKey
	if err := k.db.WithContext(ctx).Where("retired_at IS NULL").Order("created_at DESC, id DESC").Find(&rows).Error; err != nil {
		return fmt.Errorf("load tool keys: %w", err)
	}
	keys := make([]jwk.Key, 0, len(rows))
	for _, r := range rows {
		der, err := k.seal.Open(label+"\x00"+r.KID, r.PrivateSealed)
		if err != nil {
			return fmt.Errorf("open tool key %s: %w", r.KID, err)
		}
		raw, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return fmt.Errorf("parse tool key %s: %w", r.KID, err)
		}
		key, err := jwk.FromRaw(raw)
		if err != nil {
			return fmt.Errorf("build tool key %s: %w", r.KID, err)
		}
		_ = key.Set(jwk.KeyIDKey, r.KID)
		_ = key.Set(jwk.AlgorithmKey, jwa.RS256)
		_ = key.Set(jwk.KeyUsageKey, "sig")
		keys = append(keys, key)
	}
	k.mu.Lock()
	k.private = keys
	k.mu.Unlock()
	return nil
}

// Signer returns the key new signatures are made with.
func (k *Keys) Signer() (jwk.Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.private) == 0 {
		return nil, errors.New("no tool key; call Ensure first")
	}
	return k.private[0], nil
}

// JWKS returns the public key set as JSON.
func (k *Keys) JWKS() ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	set := jwk.NewSet()
	for _, p := range k.private {
		pub, err := p.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("public half of %s: %w", p.KeyID(), err)
		}
		if err := set.AddKey(pub); err != nil {
			return nil, fmt.Errorf("add key: %w", err)
		}
	}
	return json.Marshal(set)
}
