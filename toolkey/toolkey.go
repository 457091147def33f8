// Package toolkey keeps Labhub's own RSA signing keys, the ones platforms
// verify Labhub with (deep-linking responses, service token requests) and
// that /lti/jwks publishes. Private keys are stored sealed.
//
// There are always at least two published keys: the current key, which
// signs, and the next key, which is published but does not sign yet. A
// rotation retires the current key, lets the next key sign, and creates a
// new next key; so every key is published long before it signs, and a
// retired key stays published for RetiredGrace, longer than anything it
// signed is valid. Rotation may come from another process (the command
// line): Reload picks it up.
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
	"gorm.io/gorm"

	"github.com/labhub/labhub/seal"
	"github.com/labhub/labhub/store"
)

const label = "tool-private-key"

// Key states, as List reports them.
const (
	StateNext    = "next"    // published, does not sign yet
	StateCurrent = "current" // signs
	StateRetired = "retired" // published until RetiredGrace has passed, does not sign
)

const (
	// RetiredGrace is how long a retired key stays published. What Labhub
	// signs is valid for minutes (client assertions 5 min, deep linking
	// responses 5 min); an hour also covers platforms that cache keysets.
	RetiredGrace = time.Hour
	// MinPublished is how long the next key must have been published
	// before a rotation lets it sign, so that platforms that cache Labhub's
	// keyset (it is served with max-age 300 s) have seen it.
	MinPublished = 10 * time.Minute
)

// TooSoonError is returned by Rotate when the next key has not been
// published for MinPublished yet.
type TooSoonError struct {
	// KID is the next key's id.
	KID string
	// Ready is when the next key may start signing.
	Ready time.Time
}

func (e *TooSoonError) Error() string {
	return fmt.Sprintf("the next key %s was published too recently to sign; rotate after %s, or force it",
		e.KID, e.Ready.UTC().Format(time.RFC3339))
}

// Info describes a key for people.
type Info struct {
	KID         string
	State       string
	CreatedAt   time.Time
	ActivatedAt *time.Time
	RetiredAt   *time.Time
}

// Keys manages the tool keys.
type Keys struct {
	db   *store.DB
	seal *seal.Keyring
	now  func() time.Time

	// mu protects the cache below.
	mu        sync.Mutex
	signer    jwk.Key   // the current key
	published []jwk.Key // every published key, private halves
}

// New returns the key manager.
func New(db *store.DB, s *seal.Keyring, now func() time.Time) *Keys {
	if now == nil {
		now = time.Now
	}
	return &Keys{db: db, seal: s, now: now}
}

// Ensure makes sure there is a current and a next key, creating what is
// missing, and loads the keys.
func (k *Keys) Ensure(ctx context.Context) error {
	err := k.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		rows, err := liveRows(tx)
		if err != nil {
			return err
		}
		var hasCurrent, hasNext bool
		for _, r := range rows {
			hasCurrent = hasCurrent || r.ActivatedAt != nil
			hasNext = hasNext || r.ActivatedAt == nil
		}
		now := k.now().UTC()
		if !hasCurrent {
			if _, err := k.generate(tx, &now); err != nil {
				return err
			}
		}
		if !hasNext {
			if _, err := k.generate(tx, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return k.Reload(ctx)
}

// liveRows returns the keys that are not retired, newest first.
func liveRows(tx *gorm.DB) ([]store.ToolKey, error) {
	var rows []store.ToolKey
	if err := tx.Where("retired_at IS NULL").Order("created_at DESC, id DESC").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("load tool keys: %w", err)
	}
	return rows, nil
}

// Rotate retires the current key, lets the next key sign and creates a new
// next key. It returns the id of the key that signs from now on. Unless
// force is set, it refuses with a *TooSoonError while the next key has been
// published for less than MinPublished.
func (k *Keys) Rotate(ctx context.Context, force bool) (string, error) {
	var kid string
	var tooSoon *TooSoonError
	err := k.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		rows, err := liveRows(tx)
		if err != nil {
			return err
		}
		now := k.now().UTC()
		var next *store.ToolKey
		for i := range rows {
			if rows[i].ActivatedAt == nil {
				next = &rows[i]
				break
			}
		}
		if next == nil {
			// A database from before rotation existed, or a next key was
			// removed by hand: publish one first.
			id, err := k.generate(tx, nil)
			if err != nil {
				return err
			}
			if !force {
				// The new key is kept: it is the next key from now on.
				tooSoon = &TooSoonError{KID: id, Ready: now.Add(MinPublished)}
				return nil
			}
			next = &store.ToolKey{}
			if err := tx.Where("kid = ?", id).First(next).Error; err != nil {
				return fmt.Errorf("load new key: %w", err)
			}
		}
		if ready := next.CreatedAt.Add(MinPublished); !force && now.Before(ready) {
			return &TooSoonError{KID: next.KID, Ready: ready}
		}
		if err := tx.Model(&store.ToolKey{}).Where("retired_at IS NULL AND activated_at IS NOT NULL").
			Update("retired_at", now).Error; err != nil {
			return fmt.Errorf("retire current key: %w", err)
		}
		if err := tx.Model(&store.ToolKey{}).Where("id = ?", next.ID).Update("activated_at", now).Error; err != nil {
			return fmt.Errorf("activate next key: %w", err)
		}
		if _, err := k.generate(tx, nil); err != nil {
			return err
		}
		kid = next.KID
		return nil
	})
	if err != nil {
		return "", err
	}
	if err := k.Reload(ctx); err != nil {
		return "", err
	}
	if tooSoon != nil {
		return "", tooSoon
	}
	return kid, nil
}

// generate creates a key, active from activated when that is not nil, and
// returns its kid.
func (k *Keys) generate(tx *gorm.DB, activated *time.Time) (string, error) {
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
	row := store.ToolKey{KID: kid, PrivateSealed: sealed, CreatedAt: k.now().UTC(), ActivatedAt: activated}
	if err := tx.Create(&row).Error; err != nil {
		return "", fmt.Errorf("store tool key: %w", err)
	}
	return kid, nil
}

// publishedRows returns the keys /lti/jwks publishes, newest first.
func (k *Keys) publishedRows(ctx context.Context) ([]store.ToolKey, error) {
	var rows []store.ToolKey
	cutoff := k.now().UTC().Add(-RetiredGrace)
	err := k.db.WithContext(ctx).Where("retired_at IS NULL OR retired_at > ?", cutoff).
		Order("created_at DESC, id DESC").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("load tool keys: %w", err)
	}
	return rows, nil
}

// Reload reads the keys from the database again, for rotations made by
// another process and for retired keys whose grace has passed.
func (k *Keys) Reload(ctx context.Context) error {
	rows, err := k.publishedRows(ctx)
	if err != nil {
		return err
	}
	var signer jwk.Key
	published := make([]jwk.Key, 0, len(rows))
	for _, r := range rows {
		key, err := k.open(r)
		if err != nil {
			return err
		}
		published = append(published, key)
		// The newest active key signs.
		if signer == nil && r.ActivatedAt != nil && r.RetiredAt == nil {
			signer = key
		}
	}
	k.mu.Lock()
	k.signer, k.published = signer, published
	k.mu.Unlock()
	return nil
}

func (k *Keys) open(r store.ToolKey) (jwk.Key, error) {
	der, err := k.seal.Open(label+"\x00"+r.KID, r.PrivateSealed)
	if err != nil {
		return nil, fmt.Errorf("open tool key %s: %w", r.KID, err)
	}
	raw, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse tool key %s: %w", r.KID, err)
	}
	key, err := jwk.FromRaw(raw)
	if err != nil {
		return nil, fmt.Errorf("build tool key %s: %w", r.KID, err)
	}
	_ = key.Set(jwk.KeyIDKey, r.KID)
	_ = key.Set(jwk.AlgorithmKey, jwa.RS256)
	_ = key.Set(jwk.KeyUsageKey, "sig")
	return key, nil
}

// Sweep deletes keys retired longer than RetiredGrace ago; nothing they
// signed is valid any more.
func (k *Keys) Sweep(ctx context.Context) (int64, error) {
	cutoff := k.now().UTC().Add(-RetiredGrace)
	res := k.db.WithContext(ctx).Where("retired_at IS NOT NULL AND retired_at <= ?", cutoff).Delete(&store.ToolKey{})
	if res.Error != nil {
		return 0, fmt.Errorf("sweep tool keys: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// List describes the published keys, newest first.
func (k *Keys) List(ctx context.Context) ([]Info, error) {
	rows, err := k.publishedRows(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(rows))
	for _, r := range rows {
		st := StateNext
		switch {
		case r.RetiredAt != nil:
			st = StateRetired
		case r.ActivatedAt != nil:
			st = StateCurrent
		}
		out = append(out, Info{KID: r.KID, State: st, CreatedAt: r.CreatedAt, ActivatedAt: r.ActivatedAt,
			RetiredAt: r.RetiredAt})
	}
	return out, nil
}

// Signer returns the key new signatures are made with.
func (k *Keys) Signer() (jwk.Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.signer == nil {
		return nil, errors.New("no tool key; call Ensure first")
	}
	return k.signer, nil
}

// JWKS returns the public key set as JSON: the next, current and recently
// retired keys.
func (k *Keys) JWKS() ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	set := jwk.NewSet()
	for _, p := range k.published {
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
