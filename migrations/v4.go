package migrations

import (
	"time"

	"gorm.io/gorm"
)

// v4HandinsAndGrades adds assignments (due dates, hand-in directories,
// created line items), hand-ins, grades and the grade outbox. Frozen copies
// of the tables as of version 4.
func v4HandinsAndGrades(tx *gorm.DB) error {
	return tx.AutoMigrate(&v4Assignment{}, &v4Handin{}, &v4Grade{}, &v4GradeDelivery{})
}

type v4Assignment struct {
	ID           uint `gorm:"primaryKey"`
	ActivityID   uint `gorm:"not null;uniqueIndex"`
	DueAt        *time.Time
	LockAtDue    bool    `gorm:"not null;default:false"`
	ScoreMaximum float64 `gorm:"not null;default:100"`
	HandinDir    string  `gorm:"size:200"`
	LineItemURL  string  `gorm:"column:line_item_url;size:1000"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (v4Assignment) TableName() string { return "assignments" }

type v4Handin struct {
	ID         uint   `gorm:"primaryKey"`
	ActivityID uint   `gorm:"not null;index:idx_handin_owner"`
	UserID     uint   `gorm:"not null;index:idx_handin_owner"`
	Path       string `gorm:"size:700;not null;uniqueIndex"`
	State      string `gorm:"size:20;not null"`
	Files      int    `gorm:"not null;default:0"`
	Bytes      int64  `gorm:"not null;default:0"`
	Source     string `gorm:"size:20"`
	Paths      string `gorm:"type:text"`
	CreatedAt  time.Time
}

func (v4Handin) TableName() string { return "handins" }

type v4Grade struct {
	ID         uint `gorm:"primaryKey"`
	ActivityID uint `gorm:"not null;uniqueIndex:idx_grade_owner"`
	UserID     uint `gorm:"not null;uniqueIndex:idx_grade_owner;index"`
	Score      *float64
	Maximum    float64 `gorm:"not null"`
	Comment    string  `gorm:"type:text"`
	Version    int     `gorm:"not null"`
	Timestamp  time.Time
	Source     string `gorm:"size:20"`
	GradedBy   string `gorm:"size:200"`
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func (v4Grade) TableName() string { return "grades" }

type v4GradeDelivery struct {
	ID               uint      `gorm:"primaryKey"`
	GradeID          uint      `gorm:"not null;uniqueIndex"`
	Version          int       `gorm:"not null"`
	State            string    `gorm:"size:20;not null;index:idx_delivery_due"`
	NextAttemptAt    time.Time `gorm:"not null;index:idx_delivery_due"`
	Attempts         int       `gorm:"not null;default:0"`
	Code             string    `gorm:"size:50"`
	LastError        string    `gorm:"type:text"`
	Target           string    `gorm:"size:20"`
	SendingVersion   int       `gorm:"not null;default:0"`
	DeliveredVersion int       `gorm:"not null;default:0"`
	DeliveredAt      *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

func (v4GradeDelivery) TableName() string { return "grade_deliveries" }
