package migrations

import (
	"time"

	"gorm.io/gorm"
)

// v6CourseEnvironment gives images their limits, courses their own
// environment (image choice, limits, idle timeout, network policy, end),
// servers their memory reports, and adds the starting-notebook records, the
// audit log and read-only help grants. Frozen copies as of version 6.
func v6CourseEnvironment(tx *gorm.DB) error {
	return tx.AutoMigrate(&v6Image{}, &v6Course{}, &v6Server{}, &v6StartCopy{}, &v6AuditEntry{}, &v6HelpGrant{})
}

type v6Image struct {
	ID          uint   `gorm:"primaryKey"`
	Name        string `gorm:"size:100;not null;uniqueIndex"`
	Ref         string `gorm:"size:500;not null"`
	Description string `gorm:"size:2000"`
	MemDefault  int64  `gorm:"not null;default:0"`
	MemMax      int64  `gorm:"not null;default:0"`
	CPUDefault  int64  `gorm:"column:cpu_default;not null;default:0"`
	CPUMax      int64  `gorm:"column:cpu_max;not null;default:0"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (v6Image) TableName() string { return "images" }

type v6Course struct {
	ID            uint   `gorm:"primaryKey"`
	Provider      string `gorm:"size:100;not null;uniqueIndex:idx_course_context"`
	ContextID     string `gorm:"size:255;not null;uniqueIndex:idx_course_context"`
	Slug          string `gorm:"size:100;not null;uniqueIndex"`
	Title         string `gorm:"size:500"`
	Label         string `gorm:"size:255"`
	ImageID       *uint
	ImageChosenAt *time.Time
	MemLimit      int64  `gorm:"not null;default:0"`
	NanoCPUs      int64  `gorm:"column:nano_cpus;not null;default:0"`
	IdleTimeout   int64  `gorm:"not null;default:0"`
	Network       string `gorm:"size:20;not null;default:hub"`
	EndedAt       *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func (v6Course) TableName() string { return "courses" }

type v6Server struct {
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
	OOMKills      int        `gorm:"column:oom_kills;not null;default:0"`
	LastOOMAt     *time.Time `gorm:"column:last_oom_at"`
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func (v6Server) TableName() string { return "servers" }

type v6StartCopy struct {
	ID         uint   `gorm:"primaryKey"`
	UserID     uint   `gorm:"not null;uniqueIndex:idx_start_copy"`
	ActivityID uint   `gorm:"not null;uniqueIndex:idx_start_copy"`
	Path       string `gorm:"size:500;not null"`
	Files      int    `gorm:"not null;default:0"`
	Skipped    int    `gorm:"not null;default:0"`
	CopiedAt   time.Time
}

func (v6StartCopy) TableName() string { return "start_copies" }

type v6AuditEntry struct {
	ID        uint      `gorm:"primaryKey"`
	CreatedAt time.Time `gorm:"index"`
	ActorID   uint      `gorm:"not null"`
	Actor     string    `gorm:"size:200;not null"`
	Action    string    `gorm:"size:50;not null"`
	CourseID  *uint     `gorm:"index"`
	Course    string    `gorm:"size:100"`
	Subject   string    `gorm:"size:200"`
	Detail    string    `gorm:"type:text"`
}

func (v6AuditEntry) TableName() string { return "audit_log" }

type v6HelpGrant struct {
	ID        uint      `gorm:"primaryKey"`
	ServerID  uint      `gorm:"not null;index"`
	HelperID  uint      `gorm:"not null;index"`
	CreatedAt time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null"`
	EndedAt   *time.Time
}

func (v6HelpGrant) TableName() string { return "help_grants" }
