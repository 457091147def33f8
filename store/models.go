package store

import "time"

// User is a person who uses Labhub, however they arrived (LMS launch, native
// account, LDAP).
type User struct {
	ID           uint   `gorm:"primaryKey"`
	Name         string `gorm:"size:200;not null;uniqueIndex"`
	Admin        bool   `gorm:"not null;default:false"`
	DisplayName  string `gorm:"size:300"`
	Email        string `gorm:"size:300"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
	LastActivity *time.Time
}

// Identity links a user to how a login names them: an LTI platform or
// consumer and its subject, or a fallback login method and its user name.
type Identity struct {
	ID        uint   `gorm:"primaryKey"`
	UserID    uint   `gorm:"not null;index"`
	Provider  string `gorm:"size:100;not null;uniqueIndex:idx_identity_subject"`
	Subject   string `gorm:"size:255;not null;uniqueIndex:idx_identity_subject"`
	CreatedAt time.Time
	LastLogin time.Time
}

// Platform is an LTI 1.3 registration: one issuer and client id.
type Platform struct {
	ID            uint   `gorm:"primaryKey"`
	Name          string `gorm:"size:200"`
	Issuer        string `gorm:"size:500;not null;uniqueIndex:idx_platform_client"`
	ClientID      string `gorm:"size:255;not null;uniqueIndex:idx_platform_client"`
	AuthURL       string `gorm:"size:1000;not null"`
	TokenURL      string `gorm:"size:1000"`
	TokenAudience string `gorm:"size:1000"`
	JWKSURL       string `gorm:"column:jwks_url;size:1000;not null"`
	// Origins are the space-separated web origins of the LMS pages that may
	// frame Labhub (Content-Security-Policy frame-ancestors).
	Origins string `gorm:"size:1000"`
	// DeploymentPolicy says what a launch from an unregistered deployment
	// id of this platform gets: "reject" or "add".
	DeploymentPolicy string `gorm:"size:20;not null;default:reject"`
	CreatedAt        time.Time
	UpdatedAt        time.Time
	Deployments      []Deployment
}

// Deployment is a deployment id of a Platform.
type Deployment struct {
	ID           uint   `gorm:"primaryKey"`
	PlatformID   uint   `gorm:"not null;uniqueIndex:idx_deployment"`
	DeploymentID string `gorm:"size:255;not null;uniqueIndex:idx_deployment"`
	CreatedAt    time.Time
}

// Consumer is an LTI 1.1 consumer: a key and its sealed shared secret.
type Consumer struct {
	ID           uint   `gorm:"primaryKey"`
	Key          string `gorm:"size:255;not null;uniqueIndex"`
	SecretSealed []byte `gorm:"not null"`
	Name         string `gorm:"size:200"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Nonce is a used one-time value (LTI 1.1 oauth_nonce, LTI 1.3 nonce),
// remembered until it could no longer be accepted anyway.
type Nonce struct {
	Scope     string    `gorm:"primaryKey;size:255"`
	Value     string    `gorm:"primaryKey;size:255"`
	ExpiresAt time.Time `gorm:"not null;index"`
}

// ToolKey is one of the tool's own RSA signing keys, private half sealed.
type ToolKey struct {
	ID            uint   `gorm:"primaryKey"`
	KID           string `gorm:"column:kid;size:100;not null;uniqueIndex"`
	PrivateSealed []byte `gorm:"not null"`
	CreatedAt     time.Time
	// ActivatedAt is when the key started signing; nil for the next key,
	// which is published but does not sign yet.
	ActivatedAt *time.Time
	// RetiredAt is when the key stopped signing; it stays published a while
	// longer for tokens it signed.
	RetiredAt *time.Time
}

// Image is an entry of the image catalog.
type Image struct {
	ID          uint   `gorm:"primaryKey"`
	Name        string `gorm:"size:100;not null;uniqueIndex"`
	Ref         string `gorm:"size:500;not null"`
	Description string `gorm:"size:2000"`
	// Limits of servers running the image: what a course gets unless its
	// instructor chooses (Default), and the most they may choose (Max).
	// Memory in bytes, CPU in billionths of a core; zero means the site's
	// --mem-limit or --cpu-limit.
	MemDefault int64 `gorm:"not null;default:0"`
	MemMax     int64 `gorm:"not null;default:0"`
	CPUDefault int64 `gorm:"column:cpu_default;not null;default:0"`
	CPUMax     int64 `gorm:"column:cpu_max;not null;default:0"`
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Course is an LTI context of one platform or consumer.
type Course struct {
	ID        uint   `gorm:"primaryKey"`
	Provider  string `gorm:"size:100;not null;uniqueIndex:idx_course_context"`
	ContextID string `gorm:"size:255;not null;uniqueIndex:idx_course_context"`
	Slug      string `gorm:"size:100;not null;uniqueIndex"`
	Title     string `gorm:"size:500"`
	Label     string `gorm:"size:255"`
	ImageID   *uint
	// ImageChosenAt is when an instructor last chose the course's image
	// (ImageID nil then means the site default); nil while nobody has.
	ImageChosenAt *time.Time
	// MemLimit (bytes) and NanoCPUs are the instructor's limits; zero means
	// the image's default.
	MemLimit int64 `gorm:"not null;default:0"`
	NanoCPUs int64 `gorm:"column:nano_cpus;not null;default:0"`
	// IdleTimeout in seconds: zero means the site's --idle-timeout, a
	// negative value never stops idle servers.
	IdleTimeout int64 `gorm:"not null;default:0"`
	// Network is the network policy: NetworkHubOnly, NetworkCourse or
	// NetworkOutside.
	Network string `gorm:"size:20;not null;default:hub"`
	// EndedAt is when an instructor ended the course; students cannot start
	// servers while it is set.
	EndedAt   *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Role names a user's standing in a course.
const (
	RoleLearner       = "learner"
	RoleInstructor    = "instructor"
	RoleAdministrator = "administrator"
)

// Enrollment is a user's role in a course, as the last launch stated it.
type Enrollment struct {
	ID        uint   `gorm:"primaryKey"`
	CourseID  uint   `gorm:"not null;uniqueIndex:idx_enrollment"`
	UserID    uint   `gorm:"not null;uniqueIndex:idx_enrollment;index"`
	Role      string `gorm:"size:20;not null"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Activity is an LTI resource link in a course: the unit a grade belongs to.
type Activity struct {
	ID             uint   `gorm:"primaryKey"`
	CourseID       uint   `gorm:"not null;uniqueIndex:idx_activity_link"`
	ResourceLinkID string `gorm:"size:255;not null;uniqueIndex:idx_activity_link"`
	Title          string `gorm:"size:500"`
	AGSLineItem    string `gorm:"column:ags_line_item;size:1000"`
	AGSLineItems   string `gorm:"column:ags_line_items;size:1000"`
	AGSScopes      string `gorm:"column:ags_scopes;size:1000"`
	// Image names the catalog image the link asks for (custom parameter
	// labhub_image), "" for the course's image.
	Image string `gorm:"size:100"`
	// StartPath is a notebook or folder of the course's shared files the
	// link starts students with (custom parameter labhub_start).
	StartPath string `gorm:"size:500"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// GradeLink holds where a user's grade for an activity goes, as the launch
// said: the LTI 1.1 outcome service and result sourcedid.
type GradeLink struct {
	ID                uint   `gorm:"primaryKey"`
	ActivityID        uint   `gorm:"not null;uniqueIndex:idx_grade_link"`
	UserID            uint   `gorm:"not null;uniqueIndex:idx_grade_link"`
	Subject           string `gorm:"size:255"`
	OutcomeServiceURL string `gorm:"size:1000"`
	ResultSourcedID   string `gorm:"type:text"`
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Server states.
const (
	StateStopped  = "stopped"
	StateStarting = "starting"
	StateRunning  = "running"
	StateStopping = "stopping"
	StateFailed   = "failed"
)

// Server is one user's notebook server for one course.
type Server struct {
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
	// OOMKills counts processes the kernel killed in the server's container
	// for going over its memory limit; LastOOMAt is the latest.
	OOMKills  int        `gorm:"column:oom_kills;not null;default:0"`
	LastOOMAt *time.Time `gorm:"column:last_oom_at"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Token kinds.
const (
	TokenServer = "server" // a server's own API token (JUPYTERHUB_API_TOKEN)
	TokenOAuth  = "oauth"  // issued to a server's OAuth client for a browser user
	TokenAPI    = "api"    // a user's personal API token
)

// Token is an API token, stored only as its SHA-256 hash.
type Token struct {
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

// OAuthClient is the OAuth client of one server's jupyterhub-singleuser.
type OAuthClient struct {
	ClientID    string `gorm:"primaryKey;size:300"`
	ServerID    uint   `gorm:"not null;uniqueIndex"`
	RedirectURI string `gorm:"size:1000;not null"`
	SecretHash  string `gorm:"size:64;not null"`
	CreatedAt   time.Time
}

// OAuthCode is an authorization code waiting to be exchanged, stored hashed.
type OAuthCode struct {
	Hash        string    `gorm:"primaryKey;size:64"`
	ClientID    string    `gorm:"size:300;not null"`
	UserID      uint      `gorm:"not null"`
	SessionID   string    `gorm:"size:64"`
	RedirectURI string    `gorm:"size:1000;not null"`
	ExpiresAt   time.Time `gorm:"not null;index"`
	CreatedAt   time.Time
}

// Session is a browser login, referenced by a signed cookie and stored by the
// hash of its id.
type Session struct {
	ID        string `gorm:"primaryKey;size:64"`
	UserID    uint   `gorm:"not null;index"`
	Method    string `gorm:"size:50"`
	CreatedAt time.Time
	ExpiresAt time.Time `gorm:"not null;index"`
	LastSeen  time.Time
}

// TableName names the table of OAuthClient.
func (OAuthClient) TableName() string { return "oauth_clients" }

// TableName names the table of OAuthCode.
func (OAuthCode) TableName() string { return "oauth_codes" }

// Setting is a value the hub keeps about itself, such as its instance id.
type Setting struct {
	Key   string `gorm:"primaryKey;size:100"`
	Value string `gorm:"type:text;not null"`
}

// TableName names the table of Setting.
func (Setting) TableName() string { return "hub_settings" }
