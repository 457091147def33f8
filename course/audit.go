package course

import (
	"context"
	"fmt"

	"github.com/labhub/labhub/store"
)

// Audit records that actor did action to course c (may be nil) concerning
// the user named subject. A failure to record is logged, never hidden.
func (m *Manager) Audit(ctx context.Context, actor store.User, action string, c *store.Course, subject, detail string) {
	e := store.AuditEntry{CreatedAt: m.opts.Now().UTC(), ActorID: actor.ID, Actor: actor.Name, Action: action,
		Subject: subject, Detail: detail}
	if c != nil {
		id := c.ID
		e.CourseID, e.Course = &id, c.Slug
	}
	if err := m.db.WithContext(ctx).Create(&e).Error; err != nil {
		m.log.Error("failed to write audit log", "action", action, "actor", actor.Name, "error", err)
		return
	}
	m.log.Info("audited action", "action", action, "actor", actor.Name, "course", e.Course, "subject", subject)
}

// AuditLog returns the newest entries of the audit log, of one course when
// courseID is not nil.
func (m *Manager) AuditLog(ctx context.Context, courseID *uint, limit int) ([]store.AuditEntry, error) {
	q := m.db.WithContext(ctx).Order("id DESC").Limit(limit)
	if courseID != nil {
		q = q.Where("course_id = ?", *courseID)
	}
	var out []store.AuditEntry
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return out, nil
}
