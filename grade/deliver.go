package grade

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/labhub/labhub/advantage"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/store"
)

// Delivery error codes, stored with a failed or retried delivery.
const (
	// CodeUnavailable: the LMS could not be reached or had trouble; the
	// delivery is tried again.
	CodeUnavailable = "lms_unavailable"
	// CodeNotGradable: the LMS does not grade this person (Moodle: not a
	// student of the course, such as a teacher).
	CodeNotGradable = "not_gradable"
	// CodeUnauthorized: the LMS refused a freshly issued access token.
	CodeUnauthorized = "unauthorized"
	// CodeTokenRefused: the LMS would not issue an access token.
	CodeTokenRefused = "token_refused"
	// CodeRefused: the LMS refused the grade for another reason.
	CodeRefused = "refused"
	// CodeNoGradeService: the activity's launches offered no way to send
	// grades.
	CodeNoGradeService = "no_grade_service"
	// CodeNoRegistration: the course's LMS registration is gone.
	CodeNoRegistration = "no_registration"
	// CodeNotLinked: the person never opened the activity from the LMS, so
	// Labhub does not know where the grade goes yet.
	CodeNotLinked = "not_linked"
)

// Targets of a delivery.
const (
	TargetAGS      = "ags"
	TargetOutcomes = "outcomes"
)

// failure is a failed delivery attempt, classified.
type failure struct {
	code string
	// msg is for the instructor.
	msg        string
	permanent  bool
	waiting    bool
	retryAfter time.Duration
	err        error
}

func (f *failure) Error() string {
	if f.err != nil {
		return f.msg + " (" + f.err.Error() + ")"
	}
	return f.msg
}

func (f *failure) Unwrap() error { return f.err }

// send makes one delivery attempt of grade g and returns the target used.
func (s *Service) send(ctx context.Context, d *store.GradeDelivery, g store.Grade) (string, error) {
	act, c, err := s.activityOf(ctx, g.ActivityID)
	if err != nil {
		return "", err
	}
	kind, id, _ := strings.Cut(c.Provider, ":")
	switch kind {
	case "lti13":
		return TargetAGS, s.sendAGS(ctx, g, act, c, id)
	case "lti11":
		return TargetOutcomes, s.sendOutcome(ctx, d, g, act, id)
	default:
		return "", &failure{code: CodeNoGradeService, permanent: true,
			msg: "This course does not come from an LMS, so there is no gradebook to send grades to."}
	}
}

// cacheTTL is how long the worker reuses what it read about an activity,
// its course and its platform: the grades of one activity go out together,
// and a launch that changes them is picked up soon after.
const cacheTTL = 10 * time.Second

type cachedActivity struct {
	act  store.Activity
	c    store.Course
	read time.Time
}

type cachedPlatform struct {
	p    lti.Platform
	read time.Time
}

// activityOf returns an activity and its course, from the cache when fresh.
func (s *Service) activityOf(ctx context.Context, id uint) (store.Activity, store.Course, error) {
	now := time.Now()
	s.mu.Lock()
	if e, ok := s.activities[id]; ok && now.Sub(e.read) < cacheTTL {
		s.mu.Unlock()
		return e.act, e.c, nil
	}
	s.mu.Unlock()
	db := s.db.WithContext(context.WithoutCancel(ctx))
	var act store.Activity
	if err := db.First(&act, id).Error; err != nil {
		return act, store.Course{}, fmt.Errorf("load activity: %w", err)
	}
	var c store.Course
	if err := db.First(&c, act.CourseID).Error; err != nil {
		return act, c, fmt.Errorf("load course: %w", err)
	}
	s.mu.Lock()
	s.activities[id] = cachedActivity{act: act, c: c, read: now}
	s.mu.Unlock()
	return act, c, nil
}

// platform returns a registration, from the cache when fresh.
func (s *Service) platform(ctx context.Context, id string) (lti.Platform, error) {
	now := time.Now()
	s.mu.Lock()
	if e, ok := s.platforms[id]; ok && now.Sub(e.read) < cacheTTL {
		s.mu.Unlock()
		return e.p, nil
	}
	s.mu.Unlock()
	p, err := s.opts.Platforms.PlatformByID(context.WithoutCancel(ctx), id)
	if err != nil {
		return p, err
	}
	s.mu.Lock()
	s.platforms[id] = cachedPlatform{p: p, read: now}
	s.mu.Unlock()
	return p, nil
}

// sendAGS posts g as an AGS score.
func (s *Service) sendAGS(ctx context.Context, g store.Grade, act store.Activity, c store.Course, platformID string) error {
	p, err := s.platform(ctx, platformID)
	if errors.Is(err, lti.ErrUnknownPlatform) {
		return &failure{code: CodeNoRegistration, permanent: true,
			msg: "The LMS registration of this course is gone. An administrator must register the platform again."}
	}
	if err != nil {
		return fmt.Errorf("load platform: %w", err)
	}
	subject, err := s.subject(ctx, g, act, c)
	if err != nil {
		return err
	}
	if act.AGSLineItem == "" && act.AGSLineItems == "" {
		return &failure{code: CodeNoGradeService, permanent: true,
			msg: "The LMS offers no grade passback for this activity. In Moodle, enable the tool's " +
				"\"IMS LTI Assignment and Grade Services\", then open the activity from Moodle once and retry."}
	}
	scopes := strings.Fields(act.AGSScopes)
	if !slices.Contains(scopes, advantage.ScopeScore) {
		return &failure{code: CodeNoGradeService, permanent: true,
			msg: "The LMS does not let Labhub send scores for this activity (no score scope in its launches)."}
	}
	item, err := s.lineItem(ctx, p, act, scopes)
	if err != nil {
		return err
	}
	score := advantage.Score{UserID: subject, Given: g.Score, Maximum: g.Maximum, Comment: g.Comment,
		Timestamp: g.Timestamp}
	err = s.opts.AGS.PostScore(ctx, p, item, score)
	if err == nil || advantage.IsConflict(err) {
		// A 409 says the platform holds a score at least as recent. Labhub's
		// timestamps for a user and activity only grow and only the newest
		// version is sent, so that is this version, sent before without
		// its answer reaching the record.
		// TODO: read the result back (result.readonly) to tell this version
		// from a newer grade the LMS holds, as after restoring an old backup.
		return nil
	}
	return classifyAdvantage(err)
}

// subject returns the LTI user id of g's user on the course's platform:
// from their launch of the activity, else from any launch of the course's
// platform.
func (s *Service) subject(ctx context.Context, g store.Grade, act store.Activity, c store.Course) (string, error) {
	db := s.db.WithContext(context.WithoutCancel(ctx))
	var link store.GradeLink
	err := db.Where("activity_id = ? AND user_id = ?", act.ID, g.UserID).First(&link).Error
	if err == nil && link.Subject != "" {
		return link.Subject, nil
	}
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return "", fmt.Errorf("load grade link: %w", err)
	}
	var id store.Identity
	err = db.Where("user_id = ? AND provider = ?", g.UserID, c.Provider).First(&id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", &failure{code: CodeNotLinked, waiting: true,
			msg: "Waiting for this person to open the activity from the LMS; the grade is sent then."}
	}
	if err != nil {
		return "", fmt.Errorf("load identity: %w", err)
	}
	return id.Subject, nil
}

// lineItem returns the line item grades of act go to: the one its launches
// name, else the one Labhub created for it, else a new one, which needs the
// lineitem scope.
func (s *Service) lineItem(ctx context.Context, p lti.Platform, act store.Activity, scopes []string) (string, error) {
	if act.AGSLineItem != "" {
		return act.AGSLineItem, nil
	}
	s.mu.Lock()
	lock := s.itemLocks[act.ID]
	if lock == nil {
		lock = &sync.Mutex{}
		s.itemLocks[act.ID] = lock
	}
	s.mu.Unlock()
	lock.Lock()
	defer lock.Unlock()
	a, err := s.Assignment(ctx, act.ID)
	if err != nil {
		return "", err
	}
	if a.LineItemURL != "" {
		return a.LineItemURL, nil
	}
	if !slices.Contains(scopes, advantage.ScopeLineItem) {
		return "", &failure{code: CodeNoGradeService, permanent: true,
			msg: "The activity has no gradebook column and the LMS does not let Labhub create one. In Moodle, " +
				"let the activity accept grades, or allow the tool to manage columns, then retry."}
	}
	// Look before creating: a column created by an attempt whose answer
	// was lost must not be created twice.
	resourceID := "labhub:" + act.ResourceLinkID
	found, err := s.opts.AGS.LineItems(ctx, p, act.AGSLineItems, url.Values{"resource_id": {resourceID}})
	if err != nil {
		return "", classifyAdvantage(err)
	}
	var item string
	for _, li := range found {
		if li.ResourceID == resourceID && li.ID != "" {
			item = li.ID
			break
		}
	}
	if item == "" {
		label := act.Title
		if label == "" {
			label = "Labhub activity"
		}
		li, err := s.opts.AGS.CreateLineItem(ctx, p, act.AGSLineItems, advantage.LineItem{Label: label,
			ScoreMaximum: a.ScoreMaximum, ResourceID: resourceID, Tag: "labhub", ResourceLinkID: act.ResourceLinkID})
		if err != nil {
			return "", classifyAdvantage(err)
		}
		item = li.ID
		s.log.Info("created line item", "activity_id", act.ID, "line_item", item)
	}
	now := s.opts.Now().UTC()
	row := store.Assignment{ActivityID: act.ID, ScoreMaximum: a.ScoreMaximum, LineItemURL: item,
		CreatedAt: now, UpdatedAt: now}
	err = s.db.WithContext(context.WithoutCancel(ctx)).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "activity_id"}},
		DoUpdates: clause.Assignments(map[string]any{"line_item_url": item, "updated_at": now}),
	}).Create(&row).Error
	if err != nil {
		return "", fmt.Errorf("record line item: %w", err)
	}
	return item, nil
}

// classifyAdvantage turns an AGS or token error into a failure.
func classifyAdvantage(err error) error {
	var e *advantage.Error
	if !errors.As(err, &e) {
		return &failure{code: CodeUnavailable, msg: "The LMS could not be reached; Labhub tries again.", err: err}
	}
	switch {
	case !e.Permanent:
		return &failure{code: CodeUnavailable, msg: "The LMS could not take the grade now; Labhub tries again.",
			retryAfter: e.RetryAfter, err: err}
	case e.TokenEndpoint && e.Status == http.StatusUnauthorized:
		// RFC 6749 lets a token endpoint answer invalid_client with 401.
		return &failure{code: CodeTokenRefused, permanent: true, err: err,
			msg: "The LMS refused Labhub's client assertion at its token endpoint (" + oauthCode(e) + "). An " +
				"administrator must check the tool's registration in the LMS: the client id, that Labhub's " +
				"public keyset is registered and reachable, and that the clocks of the LMS and Labhub agree. " +
				"Then retry."}
	case e.TokenEndpoint || e.Status == 0:
		return &failure{code: CodeTokenRefused, permanent: true, err: err,
			msg: "The LMS would not give Labhub an access token. An administrator must check the tool's " +
				"registration in the LMS (client id, public keyset, services)."}
	case e.Status == http.StatusUnauthorized:
		// A service refused a token just issued: Apache dropped the header.
		return &failure{code: CodeUnauthorized, permanent: true, err: err,
			msg: "The LMS refused Labhub's access token. If Moodle runs behind Apache, the web server drops " +
				"the Authorization header: an administrator must add SetEnvIf Authorization \"(.*)\" " +
				"HTTP_AUTHORIZATION=$1 to its configuration. Then retry."}
	case e.Status == http.StatusBadRequest:
		return &failure{code: CodeNotGradable, permanent: true, err: err,
			msg: "The LMS does not take a grade for this person. Moodle grades only students of the course; " +
				"teachers and people no longer enrolled cannot get one."}
	default:
		return &failure{code: CodeRefused, permanent: true, err: err, msg: "The LMS refused the grade."}
	}
}

// oauthCode is the OAuth error code of a token endpoint's refusal, or a
// description when it sent none.
func oauthCode(e *advantage.Error) string {
	if e.Code == "" {
		return "HTTP 401 without an error code"
	}
	return e.Code
}

// sendOutcome sends g with LTI 1.1 Basic Outcomes. A request that may have
// reached the platform before (its version is marked as being sent) is
// first checked with readResult, so the platform records it once.
func (s *Service) sendOutcome(ctx context.Context, d *store.GradeDelivery, g store.Grade, act store.Activity,
	consumerID string) error {
	db := s.db.WithContext(context.WithoutCancel(ctx))
	var cons store.Consumer
	err := db.Where("id = ?", consumerID).First(&cons).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return &failure{code: CodeNoRegistration, permanent: true,
			msg: "The LMS registration (consumer key) of this course is gone. An administrator must add it again."}
	}
	if err != nil {
		return fmt.Errorf("load consumer: %w", err)
	}
	secret, err := s.opts.Secrets.Secret(ctx, cons.Key)
	if err != nil {
		return fmt.Errorf("open consumer secret: %w", err)
	}
	var link store.GradeLink
	err = db.Where("activity_id = ? AND user_id = ?", act.ID, g.UserID).First(&link).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("load grade link: %w", err)
	}
	if link.ResultSourcedID == "" || link.OutcomeServiceURL == "" {
		if err == nil {
			return &failure{code: CodeNoGradeService, permanent: true,
				msg: "The LMS sent no outcome service with this person's launches: the activity does not accept " +
					"grades. In Moodle, let the external tool accept grades, have the person open it again, then retry."}
		}
		return &failure{code: CodeNotLinked, waiting: true,
			msg: "Waiting for this person to open the activity from the LMS; the grade is sent then."}
	}
	svc := lti.OutcomeService{URL: link.OutcomeServiceURL, SourcedID: link.ResultSourcedID, Key: cons.Key, Secret: secret}
	var fraction float64
	if g.Score != nil {
		fraction = math.Min(math.Max(*g.Score/g.Maximum, 0), 1)
	}
	if d.SendingVersion == g.Version {
		held, err := s.opts.Outcomes.Read(ctx, svc)
		if err != nil {
			return classifyOutcome(err)
		}
		if g.Score == nil && held == nil || g.Score != nil && held != nil && math.Abs(*held-fraction) < 1e-9 {
			return nil
		}
	}
	// Mark the version as possibly sent before it leaves.
	if err := db.Model(&store.GradeDelivery{}).Where("id = ?", d.ID).Update("sending_version", g.Version).Error; err != nil {
		return fmt.Errorf("mark grade as being sent: %w", err)
	}
	if g.Score == nil {
		err = s.opts.Outcomes.Delete(ctx, svc)
	} else {
		err = s.opts.Outcomes.Replace(ctx, svc, fraction)
	}
	if err != nil {
		return classifyOutcome(err)
	}
	return nil
}

// classifyOutcome turns a Basic Outcomes error into a failure.
func classifyOutcome(err error) error {
	var e *lti.OutcomeError
	if !errors.As(err, &e) || !e.Permanent {
		return &failure{code: CodeUnavailable, msg: "The LMS could not take the grade now; Labhub tries again.", err: err}
	}
	if e.Description != "" {
		return &failure{code: CodeRefused, permanent: true, err: err,
			msg: "The LMS refused the grade: " + e.Description + "."}
	}
	return &failure{code: CodeRefused, permanent: true, err: err, msg: "The LMS refused the grade."}
}
