package store

import "time"

// RegistrationInvite lets one LMS register itself with Labhub through LTI
// dynamic registration: the registration URL carries its token, stored
// here only as a SHA-256 hash.
type RegistrationInvite struct {
	ID        uint   `gorm:"primaryKey"`
	Hash      string `gorm:"size:64;not null;uniqueIndex"`
	Note      string `gorm:"size:300"`
	CreatedAt time.Time
	ExpiresAt time.Time `gorm:"not null"`
	// UsedAt is when a registration used the invite; nil while unused.
	UsedAt *time.Time
	// PlatformID is the platform the invite registered, 0 while unused.
	PlatformID uint
}
