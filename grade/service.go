package grade

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/labhub/labhub/advantage"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/store"
)

// Platforms finds LTI 1.3 registrations by their store id;
// registry.Registry implements it.
type Platforms interface {
	PlatformByID(ctx context.Context, id string) (lti.Platform, error)
}

// Secrets finds the shared secret of an LTI 1.1 consumer key;
// registry.Registry implements it.
type Secrets interface {
	Secret(ctx context.Context, key string) (string, error)
}

// Options configures a Service.
type Options struct {
	// Platforms and Secrets find the credentials of a course's LMS. They
	// must be set for Run.
	Platforms Platforms
	Secrets   Secrets
	// AGS and Outcomes send grades. They must be set for Run.
	AGS      *advantage.AGS
	Outcomes *lti.OutcomeClient
	// Concurrency bounds deliveries under way at once; zero means 4.
	Concurrency int
	// RetryMin and RetryMax bound the backoff between attempts of a
	// delivery; zero means 5 s and 1 h.
	RetryMin, RetryMax time.Duration
	// Poll is how often the worker looks for due deliveries that another
	// process (the command line) queued; zero means 2 s.
	Poll time.Duration
	// WaitingRetry is how often a grade that cannot be delivered yet is
	// looked at again; zero means 1 min.
	WaitingRetry time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Jitter returns a number in [0, 1) that spreads retries; nil means
	// math/rand.
	Jitter func() float64
	Logger *slog.Logger
}

// Service keeps grades and delivers them.
type Service struct {
	db   *store.DB
	opts Options
	log  *slog.Logger
	kick chan struct{}

	// mu protects the fields below.
	mu       sync.Mutex
	inflight map[uint]bool
	// itemLocks serialises creating the line item of an activity.
	itemLocks  map[uint]*sync.Mutex
	activities map[uint]cachedActivity
	platforms  map[string]cachedPlatform
}

// New returns a Service on db.
func New(db *store.DB, opts Options) *Service {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = 5 * time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = time.Hour
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = opts.RetryMin
	}
	if opts.Poll <= 0 {
		opts.Poll = 2 * time.Second
	}
	if opts.WaitingRetry <= 0 {
		opts.WaitingRetry = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{db: db, opts: opts, log: opts.Logger, kick: make(chan struct{}, 1),
		inflight: map[uint]bool{}, itemLocks: map[uint]*sync.Mutex{}, activities: map[uint]cachedActivity{},
		platforms: map[string]cachedPlatform{}}
}

// InputError is a grade that cannot be accepted; its message is meant for
// the person or script that gave it.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// Entry is one user's grade as someone gives it.
type Entry struct {
	UserID uint
	// Score is nil to clear the grade.
	Score *float64
	// Maximum is the score's maximum; zero stands for a maximum nobody
	// gave and keeps the grade's maximum, or gives a new grade the
	// activity's. Inputs where someone can type 0 refuse it themselves
	// (see CheckMaximum) rather than pass it on.
	Maximum float64
	Comment string
	// KeepComment leaves the comment of an existing grade as it is and
	// ignores Comment: the input had no comment at all (a CSV file without
	// the column, an API call without the field).
	KeepComment bool
}

// Change reports what Set did with one entry.
type Change struct {
	UserID  uint
	GradeID uint
	// Changed is false when the entry equalled the current grade.
	Changed bool
	Version int
}

// maxComment bounds comments in characters.
const maxComment = 10000

// DefaultMaximum is the maximum of scores of an activity nobody has set
// one for.
const DefaultMaximum = 100.0

// MaxMaximum bounds the maximum score of a grade or an activity.
const MaxMaximum = 1_000_000

// CheckMaximum reports whether m can be a maximum score: a positive number
// of at most MaxMaximum. Every way of giving grades or settings shares it.
func CheckMaximum(m float64) error {
	if math.IsNaN(m) || math.IsInf(m, 0) || m <= 0 {
		return &InputError{"The maximum score must be a positive number."}
	}
	if m > MaxMaximum {
		return &InputError{fmt.Sprintf("The maximum score must be at most %d.", MaxMaximum)}
	}
	return nil
}

// Set writes the entries as the grades of an activity, all or none. A
// changed grade gets a new version and is queued for delivery in the same
// transaction; an unchanged one is left alone. source says where the
// grades come from (page, csv, api, cli) and by who gave them.
func (s *Service) Set(ctx context.Context, activityID uint, entries []Entry, source, by string) ([]Change, error) {
	a, err := s.Assignment(ctx, activityID)
	if err != nil {
		return nil, err
	}
	if err := s.fillKept(ctx, activityID, entries, a.ScoreMaximum); err != nil {
		return nil, err
	}
	seen := map[uint]bool{}
	for i := range entries {
		e := &entries[i]
		// Comments come back from forms with CRLF line ends; one form keeps
		// a grade unchanged when it is.
		e.Comment = strings.TrimSpace(strings.ReplaceAll(e.Comment, "\r\n", "\n"))
		if err := e.validate(); err != nil {
			return nil, err
		}
		if seen[e.UserID] {
			return nil, &InputError{"The same person appears twice."}
		}
		seen[e.UserID] = true
	}
	var out []Change
	for attempt := 0; ; attempt++ {
		out, err = s.set(ctx, activityID, entries, source, by)
		// Two writers of one grade on PostgreSQL: the loser finds the
		// winner's version changed and starts over.
		if !errors.Is(err, errVersionMoved) && !store.IsUniqueViolation(err) || attempt == 4 {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("save grades: %w", err)
	}
	s.Kick()
	return out, nil
}

var errVersionMoved = errors.New("grade changed meanwhile")

// fillKept gives entries without a maximum the maximum of the person's
// existing grade, else the activity's (def), and entries that keep their
// comment the existing grade's comment. A maximum or comment changed by
// someone else between this read and the write is overwritten with what
// was read, as any concurrent edit of the whole grade would be.
func (s *Service) fillKept(ctx context.Context, activityID uint, entries []Entry, def float64) error {
	var ids []uint
	for _, e := range entries {
		if e.Maximum == 0 || e.KeepComment {
			ids = append(ids, e.UserID)
		}
	}
	current := map[uint]store.Grade{}
	if len(ids) > 0 {
		var gs []store.Grade
		err := s.db.WithContext(ctx).Where("activity_id = ? AND user_id IN ?", activityID, ids).Find(&gs).Error
		if err != nil {
			return fmt.Errorf("load current grades: %w", err)
		}
		for _, g := range gs {
			current[g.UserID] = g
		}
	}
	for i := range entries {
		e := &entries[i]
		g, ok := current[e.UserID]
		if e.Maximum == 0 {
			e.Maximum = def
			if ok {
				e.Maximum = g.Maximum
			}
		}
		if e.KeepComment {
			e.Comment = ""
			if ok {
				e.Comment = g.Comment
			}
		}
	}
	return nil
}

func (e *Entry) validate() error {
	if e.UserID == 0 {
		return &InputError{"A grade needs a person."}
	}
	if err := CheckMaximum(e.Maximum); err != nil {
		return err
	}
	if e.Score != nil {
		v := *e.Score
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > e.Maximum {
			return &InputError{fmt.Sprintf("A score must be between 0 and the maximum (%s).", FormatNumber(e.Maximum))}
		}
	}
	if utf8.RuneCountInString(e.Comment) > maxComment || !utf8.ValidString(e.Comment) {
		return &InputError{fmt.Sprintf("A comment must be text of at most %d characters.", maxComment)}
	}
	return nil
}

func (s *Service) set(ctx context.Context, activityID uint, entries []Entry, source, by string) ([]Change, error) {
	var out []Change
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		out = out[:0]
		now := s.opts.Now().UTC()
		for _, e := range entries {
			c, err := s.setOne(tx, activityID, e, source, by, now)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

// setOne writes one grade and its outbox entry inside tx.
func (s *Service) setOne(tx *gorm.DB, activityID uint, e Entry, source, by string, now time.Time) (Change, error) {
	c := Change{UserID: e.UserID}
	var g store.Grade
	err := tx.Where("activity_id = ? AND user_id = ?", activityID, e.UserID).First(&g).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		if e.Score == nil {
			// Clearing a grade that does not exist changes nothing.
			return c, nil
		}
		g = store.Grade{ActivityID: activityID, UserID: e.UserID, Score: e.Score, Maximum: e.Maximum,
			Comment: e.Comment, Version: 1, Timestamp: now.Truncate(time.Second), Source: source, GradedBy: by}
		if err := tx.Create(&g).Error; err != nil {
			return c, fmt.Errorf("create grade: %w", err)
		}
	case err != nil:
		return c, fmt.Errorf("load grade: %w", err)
	default:
		if sameScore(g.Score, e.Score) && g.Maximum == e.Maximum && g.Comment == e.Comment {
			c.GradeID, c.Version = g.ID, g.Version
			return c, nil
		}
		// Timestamps only grow, a second at least, even when the clock
		// stands still or goes back: Moodle refuses a score that is not
		// strictly newer, to the second, than the one it holds.
		ts := now.Truncate(time.Second)
		if !ts.After(g.Timestamp) {
			ts = g.Timestamp.Truncate(time.Second).Add(time.Second)
		}
		res := tx.Model(&store.Grade{}).Where("id = ? AND version = ?", g.ID, g.Version).Updates(map[string]any{
			"score": e.Score, "maximum": e.Maximum, "comment": e.Comment, "version": g.Version + 1,
			"timestamp": ts, "source": source, "graded_by": by, "updated_at": now,
		})
		if res.Error != nil {
			return c, fmt.Errorf("update grade: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			return c, errVersionMoved
		}
		g.Version++
	}
	d := store.GradeDelivery{GradeID: g.ID, Version: g.Version, State: store.DeliveryPending, NextAttemptAt: now,
		CreatedAt: now, UpdatedAt: now}
	err = tx.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "grade_id"}},
		DoUpdates: clause.Assignments(map[string]any{"version": g.Version, "state": store.DeliveryPending,
			"next_attempt_at": now, "attempts": 0, "code": "", "last_error": "", "updated_at": now}),
	}).Create(&d).Error
	if err != nil {
		return c, fmt.Errorf("queue grade delivery: %w", err)
	}
	c.GradeID, c.Changed, c.Version = g.ID, true, g.Version
	return c, nil
}

func sameScore(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// Kick wakes the worker to look for due deliveries now.
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Assignment returns the hand-in and grading settings of an activity; an
// activity nobody configured gets the defaults (no due date, maximum 100).
func (s *Service) Assignment(ctx context.Context, activityID uint) (store.Assignment, error) {
	a := store.Assignment{ActivityID: activityID, ScoreMaximum: DefaultMaximum}
	err := s.db.WithContext(ctx).Where("activity_id = ?", activityID).First(&a).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return a, fmt.Errorf("load assignment: %w", err)
	}
	return a, nil
}

// Settings are what an instructor sets for an activity.
type Settings struct {
	DueAt        *time.Time
	LockAtDue    bool
	ScoreMaximum float64
}

// Configure stores an activity's settings.
func (s *Service) Configure(ctx context.Context, activityID uint, st Settings) error {
	if err := CheckMaximum(st.ScoreMaximum); err != nil {
		return err
	}
	if st.LockAtDue && st.DueAt == nil {
		return &InputError{"Hand-ins can only close at a due date; set one."}
	}
	now := s.opts.Now().UTC()
	var due *time.Time
	if st.DueAt != nil {
		d := st.DueAt.UTC()
		due = &d
	}
	a := store.Assignment{ActivityID: activityID, DueAt: due, LockAtDue: st.LockAtDue, ScoreMaximum: st.ScoreMaximum,
		CreatedAt: now, UpdatedAt: now}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "activity_id"}},
		DoUpdates: clause.Assignments(map[string]any{"due_at": due, "lock_at_due": st.LockAtDue,
			"score_maximum": st.ScoreMaximum, "updated_at": now}),
	}).Create(&a).Error
	if err != nil {
		return fmt.Errorf("save assignment: %w", err)
	}
	return nil
}

// Retry queues the grades of users (all of the activity's failed and
// waiting grades when users is empty) for delivery now. It returns how many
// were queued.
func (s *Service) Retry(ctx context.Context, activityID uint, users []uint) (int, error) {
	now := s.opts.Now().UTC()
	q := s.db.WithContext(ctx).Model(&store.GradeDelivery{}).
		Where("grade_id IN (?)", s.db.Model(&store.Grade{}).Select("id").Where("activity_id = ?", activityID))
	if len(users) > 0 {
		q = q.Where("grade_id IN (?)", s.db.Model(&store.Grade{}).Select("id").
			Where("activity_id = ? AND user_id IN ?", activityID, users)).
			Where("state <> ?", store.DeliveryDelivered)
	} else {
		q = q.Where("state IN ?", []string{store.DeliveryFailed, store.DeliveryWaiting})
	}
	res := q.Updates(map[string]any{"state": store.DeliveryPending, "attempts": 0, "next_attempt_at": now,
		"updated_at": now})
	if res.Error != nil {
		return 0, fmt.Errorf("queue grades again: %w", res.Error)
	}
	if s.opts.AGS != nil && s.opts.AGS.Tokens != nil {
		// A retry follows a fix of the registration: ask the LMS again.
		s.opts.AGS.Tokens.ForgetRefusals()
	}
	s.Kick()
	return int(res.RowsAffected), nil
}

// Row is one person on an activity's grading page.
type Row struct {
	User store.User
	// Role is the person's role in the course, "" when not enrolled.
	Role     string
	Grade    *store.Grade
	Delivery *store.GradeDelivery
	// Handin is the latest hand-in, nil when there is none.
	Handin  *store.Handin
	Handins int
}

// Roster returns the learners of the activity's course (from launches or
// the LMS's membership service) and anyone else who has a grade for the
// activity, by username, with grades, delivery states and hand-ins.
func (s *Service) Roster(ctx context.Context, a store.Activity) ([]Row, error) {
	db := s.db.WithContext(ctx)
	var enrolled []store.Enrollment
	if err := db.Where("course_id = ?", a.CourseID).Find(&enrolled).Error; err != nil {
		return nil, fmt.Errorf("load enrollments: %w", err)
	}
	role := map[uint]string{}
	for _, e := range enrolled {
		role[e.UserID] = e.Role
	}
	var grades []store.Grade
	if err := db.Where("activity_id = ?", a.ID).Find(&grades).Error; err != nil {
		return nil, fmt.Errorf("load grades: %w", err)
	}
	var handins []store.Handin
	if err := db.Where("activity_id = ? AND state = ?", a.ID, store.HandinDone).Order("created_at, id").
		Find(&handins).Error; err != nil {
		return nil, fmt.Errorf("load hand-ins: %w", err)
	}
	rows := map[uint]*Row{}
	for uid, r := range role {
		if r == store.RoleLearner {
			rows[uid] = &Row{Role: r}
		}
	}
	gradeIDs := make([]uint, 0, len(grades))
	byGrade := map[uint]*Row{}
	for i := range grades {
		g := &grades[i]
		r := rows[g.UserID]
		if r == nil {
			r = &Row{Role: role[g.UserID]}
			rows[g.UserID] = r
		}
		r.Grade = g
		gradeIDs = append(gradeIDs, g.ID)
		byGrade[g.ID] = r
	}
	for i := range handins {
		if r := rows[handins[i].UserID]; r != nil {
			r.Handin = &handins[i]
			r.Handins++
		}
	}
	if len(gradeIDs) > 0 {
		var ds []store.GradeDelivery
		for chunk := range slices.Chunk(gradeIDs, 500) {
			var part []store.GradeDelivery
			if err := db.Where("grade_id IN ?", chunk).Find(&part).Error; err != nil {
				return nil, fmt.Errorf("load deliveries: %w", err)
			}
			ds = append(ds, part...)
		}
		for i := range ds {
			if r := byGrade[ds[i].GradeID]; r != nil {
				r.Delivery = &ds[i]
			}
		}
	}
	ids := make([]uint, 0, len(rows))
	for id := range rows {
		ids = append(ids, id)
	}
	var users []store.User
	for chunk := range slices.Chunk(ids, 500) {
		var part []store.User
		if err := db.Where("id IN ?", chunk).Find(&part).Error; err != nil {
			return nil, fmt.Errorf("load users: %w", err)
		}
		users = append(users, part...)
	}
	out := make([]Row, 0, len(users))
	for _, u := range users {
		r := rows[u.ID]
		r.User = u
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Row) int { return strings.Compare(a.User.Name, b.User.Name) })
	return out, nil
}

// FormatNumber writes a score or maximum exactly, with no exponent, so
// that reading it back gives the same number. Forms and exports use it: a
// rounded number saved back would change the grade.
func FormatNumber(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// FormatScore writes a score the way people read it, rounded to four
// decimals: no trailing zeros, no exponent. It is only for reading; use
// FormatNumber for anything that may be edited or read back.
func FormatScore(v float64) string {
	s := fmt.Sprintf("%.4f", v)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
