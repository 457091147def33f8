package migrations

import (
	"time"

	"gorm.io/gorm"
)

// v5FallbackLogins adds native accounts and the login throttle. Frozen
// copies of the tables as of version 5.
func v5FallbackLogins(tx *gorm.DB) error {
	return tx.AutoMigrate(&v5NativeAccount{}, &v5LoginThrottle{})
}

type v5NativeAccount struct {
	ID                uint   `gorm:"primaryKey"`
	UserID            uint   `gorm:"not null;uniqueIndex"`
	Username          string `gorm:"size:200;not null;uniqueIndex"`
	PasswordHash      string `gorm:"size:300;not null"`
	Approved          bool   `gorm:"not null;default:false"`
	Email             string `gorm:"size:300"`
	TOTPSealed        []byte
	TOTPPending       []byte
	TOTPLastStep      int64  `gorm:"not null;default:0"`
	RecoveryCodes     string `gorm:"type:text"`
	PasswordChangedAt time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

func (v5NativeAccount) TableName() string { return "native_accounts" }

type v5LoginThrottle struct {
	Key         string    `gorm:"primaryKey;size:300"`
	Failures    int       `gorm:"not null"`
	WindowStart time.Time `gorm:"not null"`
	LockedUntil *time.Time
	UpdatedAt   time.Time `gorm:"index"`
}

func (v5LoginThrottle) TableName() string { return "login_throttles" }
