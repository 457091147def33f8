package migrations

import (
	"time"

	"gorm.io/gorm"
)

// v1InitialSchema creates the first schema. The structs below are frozen
// copies of the tables as they were in version 1; never edit them.
func v1InitialSchema(tx *gorm.DB) error {
	return tx.AutoMigrate(
		&v1User{},
		&v1Identity{},
		&v1Platform{},
		&v1Deployment{},
		&v1Consumer{},
		&v1Nonce{},
		&v1ToolKey{},
		&v1Image{},
		&v1Course{},
		&v1Enrollment{},
		&v1Activity{},
		&v1GradeLink{},
		&v1Server{},
		&v1Token{},
		&v1OAuthClient{},
		&v1OAuthCode{},
		&v1Session{},
		&v1Setting{},
	)
}

type v1User struct {
	ID           uint   `gorm:"primaryKey"`
	Name         string `gorm:"size:200;not null;uniqueIndex"`
	Admin        bool   `gorm:"not null;default:false"`
	DisplayName  string `gorm:"size:300"`
	Email        string `gorm:"size:300"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
	LastActivity *time.Time
}

func (v1User) TableName() string { return "users" }

type v1Identity struct {
	ID        uint   `gorm:"primaryKey"`
	UserID    uint   `gorm:"not null;index"`
	Provider  string `gorm:"size:100;not null;uniqueIndex:idx_identity_subject"`
	Subject   string `gorm:"size:255;not null;uniqueIndex:idx_identity_subject"`
	CreatedAt time.Time
	LastLogin time.Time
}

func (v1Identity) TableName() string { return "identities" }

type v1Platform struct {
	ID            uint   `gorm:"primaryKey"`
	Name          string `gorm:"size:200"`
	Issuer        string `gorm:"size:500;not null;uniqueIndex:idx_platform_client"`
	ClientID      string `gorm:"size:255;not null;uniqueIndex:idx_platform_client"`
	AuthURL       string `gorm:"size:1000;not null"`
	TokenURL      string `gorm:"size:1000"`
	TokenAudience string `gorm:"size:1000"`
	JWKSURL       string `gorm:"column:jwks_url;size:1000;not null"`
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func (v1Platform) TableName() string { return "platforms" }

type v1Deployment struct {
	ID           uint   `gorm:"primaryKey"`
	PlatformID   uint   `gorm:"not null;uniqueIndex:idx_deployment"`
	DeploymentID string `gorm:"size:255;not null;uniqueIndex:idx_deployment"`
	CreatedAt    time.Time
}

func (v1Deployment) TableName() string { return "deployments" }

type v1Consumer struct {
	ID           uint   `gorm:"primaryKey"`
	Key          string `gorm:"size:255;not null;uniqueIndex"`
	SecretSealed []byte `gorm:"not null"`
	Name         string `gorm:"size:200"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (v1Consumer) TableName() string { return "consumers" }

type v1Nonce struct {
	Scope     string    `gorm:"primaryKey;size:255"`
	Value     string    `gorm:"primaryKey;size:255"`
	ExpiresAt time.Time `gorm:"not null;index"`
}

func (v1Nonce) TableName() string { return "nonces" }

type v1ToolKey struct {
	ID            uint   `gorm:"primaryKey"`
	KID           string `gorm:"column:kid;size:100;not null;uniqueIndex"`
	PrivateSealed []byte `gorm:"not null"`
	CreatedAt     time.Time
	RetiredAt     *time.Time
}

func (v1ToolKey) TableName() string { return "tool_keys" }

type v1Image struct {
	ID          uint   `gorm:"primaryKey"`
	Name        string `gorm:"size:100;not null;uniqueIndex"`
	Ref         string `gorm:"size:500;not null"`
	Description string `gorm:"size:2000"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (v1Image) TableName() string { return "images" }

type v1Course struct {
	ID        uint   `gorm:"primaryKey"`
	Provider  string `gorm:"size:100;not null;uniqueIndex:idx_course_context"`
	ContextID string `gorm:"size:255;not null;uniqueIndex:idx_course_context"`
	Slug      string `gorm:"size:100;not null;uniqueIndex"`
	Title     string `gorm:"size:500"`
	Label     string `gorm:"size:255"`
	ImageID   *uint
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (v1Course) TableName() string { return "courses" }

type v1Enrollment struct {
	ID        uint   `gorm:"primaryKey"`
	CourseID  uint   `gorm:"not null;uniqueIndex:idx_enrollment"`
	UserID    uint   `gorm:"not null;uniqueIndex:idx_enrollment;index"`
	Role      string `gorm:"size:20;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (v1Enrollment) TableName() string { return "enrollments" }

type v1Activity struct {
	ID             uint   `gorm:"primaryKey"`
	CourseID       uint   `gorm:"not null;uniqueIndex:idx_activity_link"`
	ResourceLinkID string `gorm:"size:255;not null;uniqueIndex:idx_activity_link"`
	Title          string `gorm:"size:500"`
	AGSLineItem    string `gorm:"column:ags_line_item;size:1000"`
	AGSLineItems   string `gorm:"column:ags_line_items;size:1000"`
	AGSScopes      string `gorm:"column:ags_scopes;size:1000"`
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (v1Activity) TableName() string { return "activities" }

type v1GradeLink struct {
	ID                uint   `gorm:"primaryKey"`
	ActivityID        uint   `gorm:"not null;uniqueIndex:idx_grade_link"`
	UserID            uint   `gorm:"not null;uniqueIndex:idx_grade_link"`
	Subject           string `gorm:"size:255"`
	OutcomeServiceURL string `gorm:"size:1000"`
	ResultSourcedID   string `gorm:"type:text"`
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

func (v1GradeLink) TableName() string { return "grade_links" }

type v1Server struct {
	ID            uint   `gorm:"primaryKey"`
	UserID        uint   `gorm:"not null;uniqueIndex:idx_server_owner"`
	CourseID      uint   `gorm:"not null;uniqueIndex:idx_server_owner;index"`
	Name          string `gorm:"size:100;not null"`
	State         string `gorm:"size:20;not null;index"`
	ContainerID   string `gorm:"size:100"`
	ContainerName string `gorm:"size:300"`
	Image         string `gorm:"size:500"`
	URL           string `gorm:"size:300"`
	Role          string `gorm:"size:20"`
	Error         string `gorm:"type:text"`
	StartedAt     *time.Time
	StoppedAt     *time.Time
	LastActivity  *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func (v1Server) TableName() string { return "servers" }

type v1Token struct {
	ID        uint   `gorm:"primaryKey"`
	Hash      string `gorm:"size:64;not null;uniqueIndex"`
	Kind      string `gorm:"size:20;not null"`
	UserID    uint   `gorm:"not null;index"`
	ServerID  *uint  `gorm:"index"`
	ClientID  string `gorm:"size:300"`
	SessionID string `gorm:"size:64;index"`
	Scopes    string `gorm:"type:text"`
	Note      string `gorm:"size:300"`
	ExpiresAt *time.Time
	CreatedAt time.Time
	LastUsed  *time.Time
}

func (v1Token) TableName() string { return "tokens" }

type v1OAuthClient struct {
	ClientID    string `gorm:"primaryKey;size:300"`
	ServerID    uint   `gorm:"not null;uniqueIndex"`
	RedirectURI string `gorm:"size:1000;not null"`
	SecretHash  string `gorm:"size:64;not null"`
	CreatedAt   time.Time
}

func (v1OAuthClient) TableName() string { return "oauth_clients" }

type v1OAuthCode struct {
	Hash        string    `gorm:"primaryKey;size:64"`
	ClientID    string    `gorm:"size:300;not null"`
	UserID      uint      `gorm:"not null"`
	SessionID   string    `gorm:"size:64"`
	RedirectURI string    `gorm:"size:1000;not null"`
	ExpiresAt   time.Time `gorm:"not null;index"`
	CreatedAt   time.Time
}

func (v1OAuthCode) TableName() string { return "oauth_codes" }

type v1Session struct {
	ID        string `gorm:"primaryKey;size:64"`
	UserID    uint   `gorm:"not null;index"`
	Method    string `gorm:"size:50"`
	CreatedAt time.Time
	ExpiresAt time.Time `gorm:"not null;index"`
	LastSeen  time.Time
}

func (v1Session) TableName() string { return "sessions" }

type v1Setting struct {
	Key   string `gorm:"primaryKey;size:100"`
	Value string `gorm:"type:text;not null"`
}

func (v1Setting) TableName() string { return "hub_settings" }
