package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// GetOrInit returns the setting key, storing init() as its value first when
// it has none. Concurrent callers all get the one stored value.
func (db *DB) GetOrInit(ctx context.Context, key string, init func() string) (string, error) {
	var s Setting
	err := db.WithContext(ctx).Where("key = ?", key).First(&s).Error
	if err == nil {
		return s.Value, nil
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return "", fmt.Errorf("read setting %s: %w", key, err)
	}
	s = Setting{Key: key, Value: init()}
	if err := db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&s).Error; err != nil {
		return "", fmt.Errorf("store setting %s: %w", key, err)
	}
	if err := db.WithContext(ctx).Where("key = ?", key).First(&s).Error; err != nil {
		return "", fmt.Errorf("read setting %s: %w", key, err)
	}
	return s.Value, nil
}
