// Package auth keeps who is logged in and what a credential may do: browser
// sessions behind signed cookies, hashed API tokens with JupyterHub-style
// scopes, and the OAuth 2 authorization-code provider that unmodified
// jupyterhub-singleuser servers use to log their users in.
//
// auth depends only on package store.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/labhub/labhub/store"
)

// ErrInvalidToken is returned for a token that is unknown, expired or revoked.
var ErrInvalidToken = errors.New("invalid or expired token")

// Service issues and checks sessions, tokens and OAuth codes.
type Service struct {
	db        *store.DB
	cookieKey []byte
	now       func() time.Time

	// SessionTTL is how long a browser login lasts; zero means 12 hours.
	SessionTTL time.Duration
	// OAuthTokenTTL is how long a token issued to a server's OAuth client
	// lasts; zero means the session's remaining lifetime.
	OAuthTokenTTL time.Duration
}

// New returns a Service. cookieKey signs session cookies; now may be nil.
func New(db *store.DB, cookieKey []byte, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, cookieKey: cookieKey, now: now}
}

func (s *Service) sessionTTL() time.Duration {
	if s.SessionTTL > 0 {
		return s.SessionTTL
	}
	return 12 * time.Hour
}

// NewSecret returns a random 256-bit value as 64 hex digits, the form of
// every token and code Labhub issues.
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("auth: read random: %v", err))
	}
	return hex.EncodeToString(b)
}

// Hash returns the SHA-256 hex digest under which a secret is stored. The
// secrets are 256 random bits, so a fast hash is enough.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// IssueToken stores t (its Hash is filled here) and returns the secret value.
// tx may be a transaction; nil means the service's database.
func (s *Service) IssueToken(ctx context.Context, tx *gorm.DB, t store.Token) (string, error) {
	if tx == nil {
		tx = s.db.DB
	}
	v := NewSecret()
	t.Hash = Hash(v)
	t.CreatedAt = s.now().UTC()
	if err := tx.WithContext(ctx).Create(&t).Error; err != nil {
		return "", fmt.Errorf("store token: %w", err)
	}
	return v, nil
}

// Lookup returns the live token with value v and its user.
func (s *Service) Lookup(ctx context.Context, v string) (*store.Token, *store.User, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil, ErrInvalidToken
	}
	var t store.Token
	err := s.db.WithContext(ctx).Where("hash = ?", Hash(v)).First(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, ErrInvalidToken
	}
	if err != nil {
		return nil, nil, fmt.Errorf("look up token: %w", err)
	}
	now := s.now().UTC()
	if t.ExpiresAt != nil && !now.Before(*t.ExpiresAt) {
		return nil, nil, ErrInvalidToken
	}
	var u store.User
	if err := s.db.WithContext(ctx).First(&u, t.UserID).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil, ErrInvalidToken
		}
		return nil, nil, fmt.Errorf("look up token owner: %w", err)
	}
	return &t, &u, nil
}

// RevokeServerTokens deletes the tokens and OAuth client of a server, as
// happens when it stops.
func (s *Service) RevokeServerTokens(ctx context.Context, tx *gorm.DB, serverID uint) error {
	if tx == nil {
		tx = s.db.DB
	}
	if err := tx.WithContext(ctx).Where("server_id = ?", serverID).Delete(&store.Token{}).Error; err != nil {
		return fmt.Errorf("revoke server tokens: %w", err)
	}
	if err := tx.WithContext(ctx).Where("server_id = ?", serverID).Delete(&store.OAuthClient{}).Error; err != nil {
		return fmt.Errorf("remove oauth client: %w", err)
	}
	return nil
}

// Scopes decodes a token's scope list.
func Scopes(t *store.Token) []string {
	var out []string
	if t.Scopes != "" {
		_ = json.Unmarshal([]byte(t.Scopes), &out)
	}
	return out
}

// EncodeScopes encodes a scope list for storage.
func EncodeScopes(scopes []string) string {
	b, _ := json.Marshal(scopes)
	return string(b)
}

// HasScope reports whether scopes grant want. A filtered want
// ("users:activity!user=alice") is granted by the same filtered scope or by
// the unfiltered base scope; "access:servers!server=alice/c" is also granted
// by "access:servers!user=alice".
func HasScope(scopes []string, want string) bool {
	base, filter, _ := strings.Cut(want, "!")
	for _, s := range scopes {
		if s == want || s == base {
			return true
		}
		if b, f, ok := strings.Cut(s, "!"); ok && b == base && filter != "" {
			if u, ok := strings.CutPrefix(filter, "server="); ok {
				owner, _, _ := strings.Cut(u, "/")
				if f == "user="+owner {
					return true
				}
			}
		}
	}
	return false
}

// ServerScope is the scope that lets a user into owner's server.
func ServerScope(owner, server string) string {
	return "access:servers!server=" + owner + "/" + server
}
