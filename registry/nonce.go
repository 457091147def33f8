package registry

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/store"
)

// Nonces is the database-backed lti.NonceStore. Entries expire when the
// message that carried them could no longer be accepted, and expired entries
// are swept, so the table holds at most the nonces of recent valid launches.
type Nonces struct {
	db  *store.DB
	now func() time.Time
}

// NewNonces returns a nonce store over db.
func NewNonces(db *store.DB, now func() time.Time) *Nonces {
	if now == nil {
		now = time.Now
	}
	return &Nonces{db: db, now: now}
}

// UseNonce implements lti.NonceStore.
func (n *Nonces) UseNonce(ctx context.Context, scope, nonce string, expires time.Time) error {
	now := n.now().UTC()
	db := n.db.WithContext(ctx)
	// An expired entry with the same value no longer protects anything;
	// remove it so the nonce can be recorded afresh.
	if err := db.Where("scope = ? AND value = ? AND expires_at <= ?", scope, nonce, now).Delete(&store.Nonce{}).Error; err != nil {
		return fmt.Errorf("clear expired nonce: %w", err)
	}
	res := db.Clauses(clause.OnConflict{DoNothing: true}).
		Create(&store.Nonce{Scope: scope, Value: nonce, ExpiresAt: expires.UTC()})
	if res.Error != nil {
		return fmt.Errorf("record nonce: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return lti.ErrReplay
	}
	return nil
}

// Sweep deletes expired nonces.
func (n *Nonces) Sweep(ctx context.Context) (int64, error) {
	res := n.db.WithContext(ctx).Where("expires_at <= ?", n.now().UTC()).Delete(&store.Nonce{})
	if res.Error != nil {
		return 0, fmt.Errorf("sweep nonces: %w", res.Error)
	}
	return res.RowsAffected, nil
}
