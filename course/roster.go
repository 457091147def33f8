package course

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/store"
)

// RosterResult counts what a roster sync did.
type RosterResult struct {
	// Members is how many active members were read.
	Members int
	// NewUsers and NewEnrollments are the people and enrollments created.
	NewUsers, NewEnrollments int
	// Skipped counts members left out: inactive or deleted in the LMS.
	Skipped int
}

// rosterBatch is how many members one transaction records.
const rosterBatch = 50

// SyncRoster records the members of a course as its platform lists them
// (Names and Role Provisioning), so that teachers see students who have not
// launched yet. provider names the platform as for launches; a member is
// found by provider and user id like a launch, and a new one is named by
// the same rules as at a launch. A member's course role is set when the
// roster states one (Instructor, Learner, in short or URI form); members
// who are no course role at all (administrators listed by the platform) get
// a learner enrollment only when they have none. Inactive members are
// skipped.
//
// TODO: enrollments are never removed; people who left the course in the
// LMS stay listed until enrollments have a state to record that in.
func (s *Service) SyncRoster(ctx context.Context, provider string, courseID uint, members []lti.Member,
	roles lti.RoleMapping) (RosterResult, error) {
	var res RosterResult
	var active []lti.Member
	for _, m := range members {
		if m.Active() {
			active = append(active, m)
		} else {
			res.Skipped++
		}
	}
	res.Members = len(active)
	for start := 0; start < len(active); start += rosterBatch {
		batch := active[start:min(start+rosterBatch, len(active))]
		var users, enrolls int
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			users, enrolls, err = s.recordMembers(ctx, provider, courseID, batch, roles)
			if !store.IsUniqueViolation(err) {
				break
			}
		}
		if err != nil {
			return res, fmt.Errorf("record roster of course %d: %w", courseID, err)
		}
		res.NewUsers += users
		res.NewEnrollments += enrolls
	}
	return res, nil
}

func (s *Service) recordMembers(ctx context.Context, provider string, courseID uint, batch []lti.Member,
	roles lti.RoleMapping) (users, enrolls int, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		users, enrolls = 0, 0
		now := s.now().UTC()
		for _, m := range batch {
			l := m.Launch(roles)
			u, created, err := s.memberUser(tx, provider, l, now)
			if err != nil {
				return err
			}
			if created {
				users++
			}
			added, err := memberEnrollment(tx, courseID, u.ID, l.Roles)
			if err != nil {
				return err
			}
			if added {
				enrolls++
			}
		}
		return nil
	})
	return users, enrolls, err
}

// memberUser finds or creates the user of a roster member. A new identity
// has no last login: the person has not launched yet, so their first
// launch may still choose their username.
func (s *Service) memberUser(tx *gorm.DB, provider string, l *lti.Launch, now time.Time) (store.User, bool, error) {
	var u store.User
	var id store.Identity
	err := tx.Where("provider = ? AND subject = ?", provider, l.Subject).First(&id).Error
	switch {
	case err == nil:
		if err := tx.First(&u, id.UserID).Error; err != nil {
			return u, false, fmt.Errorf("load user of identity: %w", err)
		}
		updates := map[string]any{}
		if l.Name != "" && l.Name != u.DisplayName {
			updates["display_name"] = l.Name
		}
		if l.Email != "" && l.Email != u.Email {
			updates["email"] = l.Email
		}
		if len(updates) > 0 {
			if err := tx.Model(&u).Updates(updates).Error; err != nil {
				return u, false, fmt.Errorf("update user: %w", err)
			}
		}
		return u, false, nil
	case errors.Is(err, gorm.ErrRecordNotFound):
		name, err := uniqueName(tx, s.usernameFor(provider, l))
		if err != nil {
			return u, false, err
		}
		u = store.User{Name: name, DisplayName: l.Name, Email: l.Email}
		if err := tx.Create(&u).Error; err != nil {
			return u, false, fmt.Errorf("create user %s: %w", name, err)
		}
		id = store.Identity{UserID: u.ID, Provider: provider, Subject: l.Subject, CreatedAt: now}
		if err := tx.Create(&id).Error; err != nil {
			return u, false, fmt.Errorf("create identity: %w", err)
		}
		return u, true, nil
	default:
		return u, false, fmt.Errorf("look up identity: %w", err)
	}
}

// memberEnrollment records a member's role in the course and reports
// whether the enrollment is new.
func memberEnrollment(tx *gorm.DB, courseID, userID uint, r lti.Roles) (bool, error) {
	var e store.Enrollment
	err := tx.Where("course_id = ? AND user_id = ?", courseID, userID).First(&e).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		e = store.Enrollment{CourseID: courseID, UserID: userID, Role: RoleOf(r)}
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&e)
		if res.Error != nil {
			return false, fmt.Errorf("store enrollment: %w", res.Error)
		}
		return res.RowsAffected == 1, nil
	case err != nil:
		return false, fmt.Errorf("look up enrollment: %w", err)
	}
	if r.Course == lti.RoleNone || e.Role == RoleOf(r) {
		return false, nil
	}
	if err := tx.Model(&e).Update("role", RoleOf(r)).Error; err != nil {
		return false, fmt.Errorf("update enrollment: %w", err)
	}
	return false, nil
}

// renameProvisional gives a user created from a roster, at their first
// launch, the name the launch would have given them: rosters rarely carry
// the LMS username, launches do. Users who have a server keep their name,
// because their volumes are named after it.
func (s *Service) renameProvisional(tx *gorm.DB, provider string, l *lti.Launch, u *store.User) error {
	want := s.usernameFor(provider, l)
	if want == u.Name {
		return nil
	}
	var servers int64
	if err := tx.Model(&store.Server{}).Where("user_id = ?", u.ID).Count(&servers).Error; err != nil {
		return fmt.Errorf("count servers: %w", err)
	}
	if servers > 0 {
		return nil
	}
	name, err := uniqueName(tx, want)
	if err != nil {
		return err
	}
	if err := tx.Model(u).Update("name", name).Error; err != nil {
		return fmt.Errorf("rename user %s: %w", u.Name, err)
	}
	u.Name = name
	return nil
}
