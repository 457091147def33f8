package store

import "time"

// Assignment is what Labhub adds to an activity so that it can collect
// hand-ins and grade them. An activity has at most one; it is created the
// first time either is needed.
type Assignment struct {
	ID         uint `gorm:"primaryKey"`
	ActivityID uint `gorm:"not null;uniqueIndex"`
	// DueAt is when hand-ins are due, nil for no due date.
	DueAt *time.Time
	// LockAtDue refuses hand-ins after DueAt.
	LockAtDue bool `gorm:"not null;default:false"`
	// ScoreMaximum is the maximum of scores given without one.
	ScoreMaximum float64 `gorm:"not null;default:100"`
	// HandinDir is the activity's directory in the course's hand-in volume.
	HandinDir string `gorm:"size:200"`
	// LineItemURL is the AGS line item Labhub created for the activity when
	// its launches named none.
	LineItemURL string `gorm:"column:line_item_url;size:1000"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Hand-in states.
const (
	HandinCopying = "copying" // files are being copied; not shown yet
	HandinDone    = "done"
)

// Handin is a timestamped, read-only copy of files a student handed in for
// an activity, kept in the course's hand-in volume at Path.
type Handin struct {
	ID         uint `gorm:"primaryKey"`
	ActivityID uint `gorm:"not null;index:idx_handin_owner"`
	UserID     uint `gorm:"not null;index:idx_handin_owner"`
	// Path is the hand-in's directory relative to the volume's root:
	// <activity dir>/<user>/<time>.
	Path   string `gorm:"size:700;not null;uniqueIndex"`
	State  string `gorm:"size:20;not null"`
	Files  int    `gorm:"not null;default:0"`
	Bytes  int64  `gorm:"not null;default:0"`
	Source string `gorm:"size:20"`
	// Paths lists what the student chose, one path a line.
	Paths     string `gorm:"type:text"`
	CreatedAt time.Time
}

// Grade is a user's current grade for an activity. Every change bumps
// Version and gives the new version a Timestamp strictly later, to the
// second, than the one before, as AGS platforms require.
type Grade struct {
	ID         uint `gorm:"primaryKey"`
	ActivityID uint `gorm:"not null;uniqueIndex:idx_grade_owner"`
	UserID     uint `gorm:"not null;uniqueIndex:idx_grade_owner;index"`
	// Score is nil when the grade was cleared.
	Score     *float64
	Maximum   float64 `gorm:"not null"`
	Comment   string  `gorm:"type:text"`
	Version   int     `gorm:"not null"`
	Timestamp time.Time
	// Source says where the grade came from (page, csv, api, cli).
	Source string `gorm:"size:20"`
	// GradedBy is the name of the user who gave it.
	GradedBy  string `gorm:"size:200"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Delivery states.
const (
	// DeliveryPending waits for its next attempt.
	DeliveryPending = "pending"
	// DeliveryDelivered: the platform acknowledged Version.
	DeliveryDelivered = "delivered"
	// DeliveryFailed: the platform refused it for a reason that repeating
	// cannot fix; a person must act, then retry.
	DeliveryFailed = "failed"
	// DeliveryWaiting: Labhub does not know yet where the grade goes (the
	// student has not opened the activity from the LMS).
	DeliveryWaiting = "waiting"
)

// GradeDelivery is the outbox entry of a grade: the version to send to the
// platform and how sending it went. It is written in the same transaction
// as the grade.
type GradeDelivery struct {
	ID      uint `gorm:"primaryKey"`
	GradeID uint `gorm:"not null;uniqueIndex"`
	// Version is the grade version to deliver.
	Version       int       `gorm:"not null"`
	State         string    `gorm:"size:20;not null;index:idx_delivery_due"`
	NextAttemptAt time.Time `gorm:"not null;index:idx_delivery_due"`
	Attempts      int       `gorm:"not null;default:0"`
	// Code classifies the last error (see package grade).
	Code      string `gorm:"size:50"`
	LastError string `gorm:"type:text"`
	// Target is how the grade travels: "ags" or "outcomes".
	Target string `gorm:"size:20"`
	// SendingVersion is the version of a request that may have reached the
	// platform without its answer being recorded, 0 when there is none.
	SendingVersion   int `gorm:"not null;default:0"`
	DeliveredVersion int `gorm:"not null;default:0"`
	DeliveredAt      *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}
