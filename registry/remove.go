package registry

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/labhub/labhub/store"
)

// ErrUndelivered refuses to remove a registration whose courses still have
// grades on their way to the LMS: without the registration they could
// never be delivered.
var ErrUndelivered = errors.New("grades of its courses have not reached the LMS yet")

// RemovePlatform removes LTI 1.3 platform id and its deployment ids, so
// that its launches are refused. Its courses, users and their work stay;
// registering the platform again later gives it a new id and so new
// courses, which is why changing a registration is done with PutPlatform.
func (r *Registry) RemovePlatform(ctx context.Context, id uint) error {
	err := r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var p store.Platform
		if err := tx.First(&p, id).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return fmt.Errorf("no LTI 1.3 platform with id %d (see labhub lti13 list): %w", id, store.ErrNotFound)
			}
			return fmt.Errorf("load platform %d: %w", id, err)
		}
		if err := refuseUndelivered(tx, ProviderLTI13(id)); err != nil {
			return err
		}
		if err := tx.Where("platform_id = ?", id).Delete(&store.Deployment{}).Error; err != nil {
			return fmt.Errorf("remove deployments of platform %d: %w", id, err)
		}
		if err := tx.Delete(&p).Error; err != nil {
			return fmt.Errorf("remove platform %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.forgetAncestors()
	return nil
}

// RemoveConsumer removes the LTI 1.1 consumer with key, as RemovePlatform
// removes a platform.
func (r *Registry) RemoveConsumer(ctx context.Context, key string) error {
	err := r.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var c store.Consumer
		if err := tx.Where("key = ?", key).First(&c).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return fmt.Errorf("no LTI 1.1 consumer with key %q (see labhub lti11 list): %w", key, store.ErrNotFound)
			}
			return fmt.Errorf("load consumer %q: %w", key, err)
		}
		if err := refuseUndelivered(tx, ProviderLTI11(c.ID)); err != nil {
			return err
		}
		if err := tx.Delete(&c).Error; err != nil {
			return fmt.Errorf("remove consumer %q: %w", key, err)
		}
		return nil
	})
	return err
}

// refuseUndelivered returns ErrUndelivered while a course of provider has
// grade deliveries pending or waiting.
func refuseUndelivered(tx *gorm.DB, provider string) error {
	var n int64
	err := tx.Model(&store.GradeDelivery{}).
		Joins("JOIN grades ON grades.id = grade_deliveries.grade_id").
		Joins("JOIN activities ON activities.id = grades.activity_id").
		Joins("JOIN courses ON courses.id = activities.course_id").
		Where("courses.provider = ? AND grade_deliveries.state IN ?", provider,
			[]string{store.DeliveryPending, store.DeliveryWaiting}).
		Count(&n).Error
	if err != nil {
		return fmt.Errorf("count undelivered grades: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("%d %w; wait for them, or retry or remove them on the grading pages", n, ErrUndelivered)
	}
	return nil
}
