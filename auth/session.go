package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/labhub/labhub/store"
)

// ErrNoSession is returned when a cookie names no live session.
var ErrNoSession = errors.New("no valid session")

// SessionCookie is the name of the hub's login cookie.
const SessionCookie = "labhub-session"

// NewSession logs userID in and returns the cookie value and the session.
// method records how they logged in ("lti13", "lti11", "native", ...).
func (s *Service) NewSession(ctx context.Context, tx *gorm.DB, userID uint, method string) (string, *store.Session, error) {
	if tx == nil {
		tx = s.db.DB
	}
	id := NewSecret()
	now := s.now().UTC()
	sess := &store.Session{
		ID:        Hash(id),
		UserID:    userID,
		Method:    method,
		CreatedAt: now,
		LastSeen:  now,
		ExpiresAt: now.Add(s.sessionTTL()),
	}
	if err := tx.WithContext(ctx).Create(sess).Error; err != nil {
		return "", nil, fmt.Errorf("store session: %w", err)
	}
	return id + "." + s.mac(id), sess, nil
}

func (s *Service) mac(id string) string {
	m := hmac.New(sha256.New, s.cookieKey)
	m.Write([]byte("session\x00" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Session returns the live session and user a cookie value names.
func (s *Service) Session(ctx context.Context, cookie string) (*store.Session, *store.User, error) {
	id, mac, ok := strings.Cut(cookie, ".")
	if !ok || id == "" || !hmac.Equal([]byte(mac), []byte(s.mac(id))) {
		return nil, nil, ErrNoSession
	}
	var sess store.Session
	err := s.db.WithContext(ctx).Where("id = ?", Hash(id)).First(&sess).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, ErrNoSession
	}
	if err != nil {
		return nil, nil, fmt.Errorf("look up session: %w", err)
	}
	if !s.now().UTC().Before(sess.ExpiresAt) {
		return nil, nil, ErrNoSession
	}
	var u store.User
	if err := s.db.WithContext(ctx).First(&u, sess.UserID).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, nil, ErrNoSession
		}
		return nil, nil, fmt.Errorf("look up session user: %w", err)
	}
	return &sess, &u, nil
}

// EndSession logs a session out and revokes the tokens its servers' OAuth
// clients were given for it, so open notebook tabs lose access too (within
// the five minutes jupyterhub-singleuser caches an identity).
func (s *Service) EndSession(ctx context.Context, sessionID string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("session_id = ?", sessionID).Delete(&store.Token{}).Error; err != nil {
			return fmt.Errorf("revoke session tokens: %w", err)
		}
		if err := tx.Where("id = ?", sessionID).Delete(&store.Session{}).Error; err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		return nil
	})
}

// Sweep deletes expired sessions, tokens and codes.
func (s *Service) Sweep(ctx context.Context) error {
	now := s.now().UTC()
	db := s.db.WithContext(ctx)
	if err := db.Where("expires_at < ?", now).Delete(&store.Session{}).Error; err != nil {
		return fmt.Errorf("sweep sessions: %w", err)
	}
	if err := db.Where("expires_at IS NOT NULL AND expires_at < ?", now).Delete(&store.Token{}).Error; err != nil {
		return fmt.Errorf("sweep tokens: %w", err)
	}
	if err := db.Where("expires_at < ?", now).Delete(&store.OAuthCode{}).Error; err != nil {
		return fmt.Errorf("sweep oauth codes: %w", err)
	}
	return nil
}
