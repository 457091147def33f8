package auth

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/labhub/labhub/store"
)

// EndUserSessions logs a user out everywhere but the session keep (""
// for everywhere) and revokes the OAuth tokens those sessions gave to
// servers, as a password change or reset must.
func (s *Service) EndUserSessions(ctx context.Context, userID uint, keep string) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		ids := tx.Model(&store.Session{}).Select("id").Where("user_id = ? AND id <> ?", userID, keep)
		if err := tx.Where("session_id IN (?)", ids).Delete(&store.Token{}).Error; err != nil {
			return fmt.Errorf("revoke session tokens: %w", err)
		}
		if err := tx.Where("user_id = ? AND id <> ?", userID, keep).Delete(&store.Session{}).Error; err != nil {
			return fmt.Errorf("delete sessions: %w", err)
		}
		return nil
	})
}

// TTL returns how long a new session lasts.
func (s *Service) TTL() int { return int(s.sessionTTL().Seconds()) }
