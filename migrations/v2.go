package migrations

import (
	"time"

	"gorm.io/gorm"
)

// v2ActivityChoice lets an activity name its own image and starting
// notebook. Frozen copy of the activities table as of version 2.
func v2ActivityChoice(tx *gorm.DB) error {
	return tx.AutoMigrate(&v2Activity{})
}

type v2Activity struct {
	ID             uint   `gorm:"primaryKey"`
	CourseID       uint   `gorm:"not null;uniqueIndex:idx_activity_link"`
	ResourceLinkID string `gorm:"size:255;not null;uniqueIndex:idx_activity_link"`
	Title          string `gorm:"size:500"`
	AGSLineItem    string `gorm:"column:ags_line_item;size:1000"`
	AGSLineItems   string `gorm:"column:ags_line_items;size:1000"`
	AGSScopes      string `gorm:"column:ags_scopes;size:1000"`
	Image          string `gorm:"size:100"`
	StartPath      string `gorm:"size:500"`
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (v2Activity) TableName() string { return "activities" }
