package store

import "time"

// Identity providers of the fallback logins.
const (
	ProviderNative = "native"
	ProviderLDAP   = "ldap"
)

// NativeAccount is the password login of a user who signed up at Labhub
// itself. The user's Identity (provider "native", subject the login name)
// points at the same user.
type NativeAccount struct {
	ID     uint `gorm:"primaryKey"`
	UserID uint `gorm:"not null;uniqueIndex"`
	// Username is the normalised login name.
	Username string `gorm:"size:200;not null;uniqueIndex"`
	// PasswordHash is an argon2id hash in PHC string form.
	PasswordHash string `gorm:"size:300;not null"`
	// Approved reports whether an administrator let the account in (or
	// sign-up was open).
	Approved bool   `gorm:"not null;default:false"`
	Email    string `gorm:"size:300"`
	// TOTPSealed is the enabled TOTP secret, sealed; nil when TOTP is off.
	TOTPSealed []byte
	// TOTPPending is a secret shown to the user but not yet confirmed with
	// a code.
	TOTPPending []byte
	// TOTPLastStep is the last accepted time step, so a code works once.
	TOTPLastStep int64 `gorm:"not null;default:0"`
	// RecoveryCodes is a JSON list of keyed hashes of the unused recovery
	// codes.
	RecoveryCodes     string `gorm:"type:text"`
	PasswordChangedAt time.Time
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// LoginThrottle counts recent failed logins of one client address or one
// account, so lockouts and rate limits survive restarts.
type LoginThrottle struct {
	// Key is "addr:<ip>" or "account:<login name>".
	Key         string    `gorm:"primaryKey;size:300"`
	Failures    int       `gorm:"not null"`
	WindowStart time.Time `gorm:"not null"`
	LockedUntil *time.Time
	UpdatedAt   time.Time `gorm:"index"`
}
