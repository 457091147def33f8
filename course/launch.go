package course

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/store"
)

// Custom parameters of a link that Labhub reads.
const (
	// CustomImage names the catalog image the link's server runs.
	CustomImage = "labhub_image"
	// CustomStart is the notebook or folder of the course's shared files
	// that students start with.
	CustomStart = "labhub_start"
)

// Service records launches.
type Service struct {
	db  *store.DB
	now func() time.Time

	// UsernameKey11 is the LTI 1.1 parameter that names users; "" means the
	// LMS username when shared, else a stable id.
	UsernameKey11 string
	// UsernameClaim13 is the LTI 1.3 claim path that names users; "" as above.
	UsernameClaim13 string
	// Link, when set, is asked before a new person gets a new user: it
	// returns the existing user an administrator's rule joins them to
	// (username and email are the launch's), or nil. tx is the launch's
	// transaction.
	Link func(tx *gorm.DB, username, email string) (*store.User, error)
	// Blocked, when set, reports whether a username may never log in. A
	// launch of a blocked person writes nothing and fails with ErrBlocked,
	// so that another platform's launch of the same name cannot slip past
	// the block under a suffixed name.
	Blocked func(name string) bool
}

// ErrBlocked is the error of a launch of a blocked username.
var ErrBlocked = errors.New("the user name is blocked")

// NewService returns a Service writing to db.
func NewService(db *store.DB, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{db: db, now: now}
}

// Enrolled is what a launch resolved to.
type Enrolled struct {
	User       store.User
	Course     store.Course
	Enrollment store.Enrollment
	Activity   store.Activity
	NewUser    bool
}

// RecordLaunch writes what a verified launch says, in one transaction:
// the person (found by provider and subject, or created with a unique
// username), the course (by provider and context), the user's role in it,
// the activity (resource link) and where the user's grade goes. provider
// names the platform or consumer, such as "lti13:3" or "lti11:1".
func (s *Service) RecordLaunch(ctx context.Context, provider string, l *lti.Launch) (*Enrolled, error) {
	if l.Subject == "" {
		return nil, errors.New("launch has no user id")
	}
	var out Enrolled
	var err error
	// Two first launches of one person or course can race on PostgreSQL;
	// the loser of a unique index retries and finds the winner's rows.
	for attempt := 0; attempt < 3; attempt++ {
		out = Enrolled{}
		err = s.record(ctx, provider, l, &out)
		if !store.IsUniqueViolation(err) {
			break
		}
	}
	if errors.Is(err, ErrBlocked) {
		return &out, err
	}
	if err != nil {
		return nil, fmt.Errorf("record launch: %w", err)
	}
	return &out, nil
}

func (s *Service) record(ctx context.Context, provider string, l *lti.Launch, out *Enrolled) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := s.now().UTC()
		if err := s.upsertUser(tx, provider, l, now, out); err != nil {
			return err
		}
		if err := s.upsertCourse(tx, provider, l, out); err != nil {
			return err
		}
		if err := upsertEnrollment(tx, l, out); err != nil {
			return err
		}
		if err := upsertActivity(tx, l, out); err != nil {
			return err
		}
		return upsertGradeLink(tx, l, out)
	})
}

func (s *Service) upsertUser(tx *gorm.DB, provider string, l *lti.Launch, now time.Time, out *Enrolled) error {
	var id store.Identity
	err := tx.Where("provider = ? AND subject = ?", provider, l.Subject).First(&id).Error
	switch {
	case err == nil:
		if err := tx.First(&out.User, id.UserID).Error; err != nil {
			return fmt.Errorf("load user of identity: %w", err)
		}
		if err := s.checkBlocked(out.User.Name); err != nil {
			return err
		}
		if id.LastLogin.IsZero() {
			// A course roster listed the person before they ever launched;
			// their first launch names them as it would have.
			if err := s.renameProvisional(tx, provider, l, &out.User); err != nil {
				return err
			}
		}
		if err := tx.Model(&id).Update("last_login", now).Error; err != nil {
			return fmt.Errorf("update identity: %w", err)
		}
	case errors.Is(err, gorm.ErrRecordNotFound):
		want := s.usernameFor(provider, l)
		if err := s.checkBlocked(want); err != nil {
			out.User = store.User{Name: want}
			return err
		}
		var linked *store.User
		if s.Link != nil {
			if linked, err = s.Link(tx, want, l.Email); err != nil {
				return fmt.Errorf("link user: %w", err)
			}
		}
		if linked != nil {
			if err := s.checkBlocked(linked.Name); err != nil {
				out.User = *linked
				return err
			}
			out.User = *linked
		} else {
			name, err := uniqueName(tx, want)
			if err != nil {
				return err
			}
			out.User = store.User{Name: name}
			if err := tx.Create(&out.User).Error; err != nil {
				return fmt.Errorf("create user %s: %w", name, err)
			}
		}
		id = store.Identity{UserID: out.User.ID, Provider: provider, Subject: l.Subject, CreatedAt: now, LastLogin: now}
		if err := tx.Create(&id).Error; err != nil {
			return fmt.Errorf("create identity: %w", err)
		}
		out.NewUser = true
	default:
		return fmt.Errorf("look up identity: %w", err)
	}
	// The LMS is the source of truth for names and email.
	updates := map[string]any{"last_activity": now}
	if l.Name != "" {
		updates["display_name"] = l.Name
	}
	if l.Email != "" {
		updates["email"] = l.Email
	}
	if err := tx.Model(&out.User).Updates(updates).Error; err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	return nil
}

// checkBlocked returns ErrBlocked when name may not log in.
func (s *Service) checkBlocked(name string) error {
	if s.Blocked != nil && s.Blocked(name) {
		return ErrBlocked
	}
	return nil
}

// usernameFor picks the username a new person gets: the configured claim,
// else the LMS login name when the platform shares it, else a stable id.
func (s *Service) usernameFor(provider string, l *lti.Launch) string {
	key := s.UsernameClaim13
	if l.Version == "1.1" {
		key = s.UsernameKey11
	}
	if key != "" {
		if v, ok := l.Claim(key); ok {
			if n, ok := NormalizeUsername(v); ok {
				return n
			}
		}
	} else if n, ok := NormalizeUsername(l.Username); ok {
		return n
	}
	return stableName(provider, l.Subject)
}

var plainSubject = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,39}$`)

// stableName derives a username from the subject when the platform shares
// nothing better: "u" + the subject when it is short and plain (Moodle's
// numeric ids), else "u-" + a hash of provider and subject.
func stableName(provider, subject string) string {
	if s := strings.ToLower(subject); plainSubject.MatchString(s) {
		return "u" + s
	}
	sum := sha256.Sum256([]byte(provider + "\x00" + subject))
	return "u-" + hex.EncodeToString(sum[:])[:16]
}

// uniqueName returns name, or name-2, name-3, ... when it is taken.
func uniqueName(tx *gorm.DB, name string) (string, error) {
	for i := 1; i < 1000; i++ {
		cand := name
		if i > 1 {
			suffix := "-" + strconv.Itoa(i)
			cand = truncateRunes(name, maxNameLen-len(suffix)) + suffix
		}
		var n int64
		if err := tx.Model(&store.User{}).Where("name = ?", cand).Count(&n).Error; err != nil {
			return "", fmt.Errorf("check username: %w", err)
		}
		if n == 0 {
			return cand, nil
		}
	}
	return "", fmt.Errorf("no free username for %q", name)
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}

func (s *Service) upsertCourse(tx *gorm.DB, provider string, l *lti.Launch, out *Enrolled) error {
	ctxID := l.Context.ID
	if ctxID == "" {
		// A link placed outside any course (a site-level tool) is a course
		// of its own.
		ctxID = "link:" + l.ResourceLink.ID
	}
	err := tx.Where("provider = ? AND context_id = ?", provider, ctxID).First(&out.Course).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		base := l.Context.Label
		if base == "" {
			base = l.Context.Title
		}
		slug, err := uniqueSlug(tx, Slug(base))
		if err != nil {
			return err
		}
		out.Course = store.Course{Provider: provider, ContextID: ctxID, Slug: slug,
			Title: l.Context.Title, Label: l.Context.Label}
		if err := tx.Create(&out.Course).Error; err != nil {
			return fmt.Errorf("create course: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up course: %w", err)
	}
	if l.Context.Title != "" && (l.Context.Title != out.Course.Title || l.Context.Label != out.Course.Label) {
		if err := tx.Model(&out.Course).Updates(map[string]any{"title": l.Context.Title, "label": l.Context.Label}).Error; err != nil {
			return fmt.Errorf("update course: %w", err)
		}
	}
	return nil
}

func uniqueSlug(tx *gorm.DB, slug string) (string, error) {
	for i := 1; i < 1000; i++ {
		cand := slug
		if i > 1 {
			suffix := "-" + strconv.Itoa(i)
			cand = strings.TrimRight(truncateRunes(slug, maxSlugLen-len(suffix)), "-") + suffix
		}
		var n int64
		if err := tx.Model(&store.Course{}).Where("slug = ?", cand).Count(&n).Error; err != nil {
			return "", fmt.Errorf("check course slug: %w", err)
		}
		if n == 0 {
			return cand, nil
		}
	}
	return "", fmt.Errorf("no free course slug for %q", slug)
}

// RoleOf maps a launch's course role to the stored role name.
func RoleOf(r lti.Roles) string {
	switch r.Course {
	case lti.RoleAdministrator:
		return store.RoleAdministrator
	case lti.RoleInstructor:
		return store.RoleInstructor
	default:
		return store.RoleLearner
	}
}

// IsTeacher reports whether a stored role has instructor rights.
func IsTeacher(role string) bool {
	return role == store.RoleInstructor || role == store.RoleAdministrator
}

func upsertEnrollment(tx *gorm.DB, l *lti.Launch, out *Enrolled) error {
	out.Enrollment = store.Enrollment{CourseID: out.Course.ID, UserID: out.User.ID, Role: RoleOf(l.Roles)}
	err := tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "course_id"}, {Name: "user_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"role", "updated_at"}),
	}).Create(&out.Enrollment).Error
	if err != nil {
		return fmt.Errorf("store enrollment: %w", err)
	}
	return nil
}

func upsertActivity(tx *gorm.DB, l *lti.Launch, out *Enrolled) error {
	if l.ResourceLink.ID == "" {
		return nil
	}
	// The link's custom parameters are the LMS's record of what the teacher
	// chose for it; each launch brings the current choice.
	a := store.Activity{CourseID: out.Course.ID, ResourceLinkID: l.ResourceLink.ID, Title: l.ResourceLink.Title,
		Image: strings.TrimSpace(l.Custom[CustomImage]), StartPath: strings.TrimSpace(l.Custom[CustomStart])}
	cols := []string{"title", "image", "start_path", "updated_at"}
	if l.AGS != nil {
		a.AGSLineItem = l.AGS.LineItem
		a.AGSLineItems = l.AGS.LineItems
		a.AGSScopes = strings.Join(l.AGS.Scopes, " ")
		cols = append(cols, "ags_line_item", "ags_line_items", "ags_scopes")
	}
	err := tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "course_id"}, {Name: "resource_link_id"}},
		DoUpdates: clause.AssignmentColumns(cols),
	}).Create(&a).Error
	if err != nil {
		return fmt.Errorf("store activity: %w", err)
	}
	if err := tx.Where("course_id = ? AND resource_link_id = ?", a.CourseID, a.ResourceLinkID).First(&out.Activity).Error; err != nil {
		return fmt.Errorf("load activity: %w", err)
	}
	return nil
}

func upsertGradeLink(tx *gorm.DB, l *lti.Launch, out *Enrolled) error {
	if out.Activity.ID == 0 {
		return nil
	}
	g := store.GradeLink{ActivityID: out.Activity.ID, UserID: out.User.ID, Subject: l.Subject}
	cols := []string{"subject", "updated_at"}
	if l.Outcome != nil && l.Outcome.SourcedID != "" {
		g.OutcomeServiceURL = l.Outcome.ServiceURL
		g.ResultSourcedID = l.Outcome.SourcedID
		cols = append(cols, "outcome_service_url", "result_sourced_id")
	}
	err := tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "activity_id"}, {Name: "user_id"}},
		DoUpdates: clause.AssignmentColumns(cols),
	}).Create(&g).Error
	if err != nil {
		return fmt.Errorf("store grade link: %w", err)
	}
	return nil
}
