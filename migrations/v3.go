package migrations

import (
	"time"

	"gorm.io/gorm"
)

// v3LTIAdvantage adds what LTI Advantage needs: the origins that may frame
// Labhub and the deployment policy of each platform, key rotation states,
// and invites for dynamic registration. Keys that exist already are the
// ones signing, so they are marked active. Frozen copies of the tables as
// of version 3.
func v3LTIAdvantage(tx *gorm.DB) error {
	if err := tx.AutoMigrate(&v3Platform{}, &v3ToolKey{}, &v3RegistrationInvite{}); err != nil {
		return err
	}
	return tx.Exec("UPDATE tool_keys SET activated_at = created_at WHERE activated_at IS NULL AND retired_at IS NULL").Error
}

type v3Platform struct {
	ID               uint   `gorm:"primaryKey"`
	Name             string `gorm:"size:200"`
	Issuer           string `gorm:"size:500;not null;uniqueIndex:idx_platform_client"`
	ClientID         string `gorm:"size:255;not null;uniqueIndex:idx_platform_client"`
	AuthURL          string `gorm:"size:1000;not null"`
	TokenURL         string `gorm:"size:1000"`
	TokenAudience    string `gorm:"size:1000"`
	JWKSURL          string `gorm:"column:jwks_url;size:1000;not null"`
	Origins          string `gorm:"size:1000"`
	DeploymentPolicy string `gorm:"size:20;not null;default:reject"`
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

func (v3Platform) TableName() string { return "platforms" }

type v3ToolKey struct {
	ID            uint   `gorm:"primaryKey"`
	KID           string `gorm:"column:kid;size:100;not null;uniqueIndex"`
	PrivateSealed []byte `gorm:"not null"`
	CreatedAt     time.Time
	ActivatedAt   *time.Time
	RetiredAt     *time.Time
}

func (v3ToolKey) TableName() string { return "tool_keys" }

type v3RegistrationInvite struct {
	ID         uint   `gorm:"primaryKey"`
	Hash       string `gorm:"size:64;not null;uniqueIndex"`
	Note       string `gorm:"size:300"`
	CreatedAt  time.Time
	ExpiresAt  time.Time `gorm:"not null"`
	UsedAt     *time.Time
	PlatformID uint
}

func (v3RegistrationInvite) TableName() string { return "registration_invites" }
