package store

import "time"

// Network policies of a course: which other containers a server reaches.
const (
	// NetworkHubOnly: the hub and nothing else (the default).
	NetworkHubOnly = "hub"
	// NetworkCourse: the hub and the other servers of the same course.
	NetworkCourse = "course"
	// NetworkOutside: the hub and the world outside the host, where the
	// administrator permits it; still no other student's container.
	NetworkOutside = "outside"
)

// StartCopy records that an activity's starting notebook or folder was
// copied into a user's home, so it is copied only once.
type StartCopy struct {
	ID         uint   `gorm:"primaryKey"`
	UserID     uint   `gorm:"not null;uniqueIndex:idx_start_copy"`
	ActivityID uint   `gorm:"not null;uniqueIndex:idx_start_copy"`
	Path       string `gorm:"size:500;not null"`
	// Files is how many files were copied; Skipped how many were left
	// alone because the home already had them.
	Files    int `gorm:"not null;default:0"`
	Skipped  int `gorm:"not null;default:0"`
	CopiedAt time.Time
}

// AuditEntry records an action taken on someone else's behalf or on a
// course's environment: who did what, to which course and whom, and when.
type AuditEntry struct {
	ID        uint      `gorm:"primaryKey"`
	CreatedAt time.Time `gorm:"index"`
	ActorID   uint      `gorm:"not null"`
	Actor     string    `gorm:"size:200;not null"`
	Action    string    `gorm:"size:50;not null"`
	CourseID  *uint     `gorm:"index"`
	Course    string    `gorm:"size:100"`
	// Subject names the user the action concerns, "" for none.
	Subject string `gorm:"size:200"`
	Detail  string `gorm:"type:text"`
}

// TableName names the table of AuditEntry.
func (AuditEntry) TableName() string { return "audit_log" }

// HelpGrant lets a course's instructor open one student's server read-only
// until it expires or is ended.
type HelpGrant struct {
	ID        uint      `gorm:"primaryKey"`
	ServerID  uint      `gorm:"not null;index"`
	HelperID  uint      `gorm:"not null;index"`
	CreatedAt time.Time `gorm:"not null"`
	ExpiresAt time.Time `gorm:"not null"`
	EndedAt   *time.Time
}
