// Package seal protects secrets at rest and derives the hub's signing keys.
//
// One master key, given by the administrator or generated at first start,
// yields independent subkeys for each purpose (encrypting stored secrets,
// signing cookies, signing LTI login state) so that no key is ever used for
// two things. Stored secrets — LTI 1.1 shared secrets, the tool's private
// keys, TOTP seeds — are sealed with AES-256-GCM and bound to what they are
// (a label), so a sealed value cannot be moved to another column unnoticed.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// version prefixes every sealed value so the format can change later.
const version = 1

// ErrOpen is returned when a sealed value cannot be opened: it was sealed
// with another master key, under another label, or was altered.
var ErrOpen = errors.New("seal: value cannot be opened with this key (wrong LABHUB_SECRET_KEY or altered data)")

// Keyring holds the master key and the keys derived from it.
type Keyring struct {
	master []byte
	aead   cipher.AEAD
}

// New returns a Keyring for a master key of at least 32 bytes of entropy,
// given as 64 hex digits, base64, or any passphrase of 32 or more characters.
func New(master string) (*Keyring, error) {
	raw, err := decodeMaster(master)
	if err != nil {
		return nil, err
	}
	k := &Keyring{master: raw}
	block, err := aes.NewCipher(k.Derive("seal/aes-256-gcm", 32))
	if err != nil {
		return nil, fmt.Errorf("create cipher: %w", err)
	}
	if k.aead, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("create gcm: %w", err)
	}
	return k, nil
}

func decodeMaster(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) >= 32 {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) >= 32 {
		return b, nil
	}
	if len(s) >= 32 {
		sum := sha256.Sum256([]byte(s))
		return sum[:], nil
	}
	return nil, errors.New("secret key must be 64 hex digits, base64 of 32 bytes, or a passphrase of at least 32 characters")
}

// LoadOrCreate returns the Keyring for master, or, when master is empty, for
// the key kept in dir/secret.key, creating that file (mode 0600) with a random
// key on first use. created reports whether the file was written now.
func LoadOrCreate(master, dir string) (k *Keyring, created bool, err error) {
	if master != "" {
		k, err = New(master)
		return k, false, err
	}
	path := filepath.Join(dir, "secret.key")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		buf := make([]byte, 32)
		if _, err := rand.Read(buf); err != nil {
			return nil, false, fmt.Errorf("generate secret key: %w", err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, false, fmt.Errorf("create data directory: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("create secret key file: %w", err)
		}
		if _, err := f.WriteString(hex.EncodeToString(buf) + "\n"); err != nil {
			f.Close()
			return nil, false, fmt.Errorf("write secret key file: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, false, fmt.Errorf("write secret key file: %w", err)
		}
		k, err = New(hex.EncodeToString(buf))
		return k, true, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("read secret key file: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("secret key file %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	k, err = New(string(b))
	if err != nil {
		return nil, false, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return k, false, nil
}

// Derive returns n bytes of key material for purpose. Different purposes give
// independent keys.
func (k *Keyring) Derive(purpose string, n int) []byte {
	out, err := hkdf.Key(sha256.New, k.master, nil, "labhub "+purpose, n)
	if err != nil {
		// hkdf.Key fails only for lengths beyond 255*32 bytes.
		panic(fmt.Sprintf("seal: derive %s: %v", purpose, err))
	}
	return out
}

// Seal encrypts plaintext bound to label (for example "consumer-secret").
func (k *Keyring) Seal(label string, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead()+1)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: generate nonce: %w", err)
	}
	out := append([]byte{version}, nonce...)
	return k.aead.Seal(out, nonce, plaintext, []byte(label)), nil
}

// Open decrypts a value made by Seal under the same label.
func (k *Keyring) Open(label string, sealed []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < 1+ns+k.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	pt, err := k.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(label))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
