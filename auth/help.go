package auth

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/labhub/labhub/store"
)

// HelpGrant returns the help grant that lets user userID look at server
// serverID now, or nil when there is none.
func (s *Service) HelpGrant(ctx context.Context, userID, serverID uint) (*store.HelpGrant, error) {
	var g store.HelpGrant
	err := s.db.WithContext(ctx).Where("helper_id = ? AND server_id = ? AND ended_at IS NULL AND expires_at > ?",
		userID, serverID, s.now().UTC()).Order("expires_at DESC").First(&g).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up help grant: %w", err)
	}
	return &g, nil
}

// helping reports whether user userID holds a help grant for serverID; a
// failed lookup counts as no.
func (s *Service) helping(ctx context.Context, userID, serverID uint) bool {
	g, err := s.HelpGrant(ctx, userID, serverID)
	return err == nil && g != nil
}
