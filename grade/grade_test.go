package grade_test

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/advantage"
	"github.com/labhub/labhub/grade"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/store"
)

// Every change of a grade gets a new version and a timestamp a second at
// least after the previous one, whatever the clock does; an unchanged
// grade is left alone; grade and outbox entry are written together.
func TestSetVersionsAndTimestamps(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, db, nil)
			s := e.launch13(student(1), course101, lab1)
			act, uid := s.Activity.ID, s.User.ID
			t0 := time.Date(2026, 3, 1, 10, 0, 0, 400e6, time.UTC)
			e.setClock(t0)

			c := e.set(act, uid, 7, 10)
			require.True(t, c.Changed)
			require.Equal(t, 1, c.Version)
			var g store.Grade
			require.NoError(t, db.First(&g, c.GradeID).Error)
			require.Equal(t, t0.Truncate(time.Second), g.Timestamp.UTC())
			require.InDelta(t, 7, *g.Score, 0)
			require.Equal(t, 10.0, g.Maximum)
			require.Equal(t, "teacher1", g.GradedBy)
			d := e.delivery(g.ID)
			require.Equal(t, store.DeliveryPending, d.State)
			require.Equal(t, 1, d.Version)

			again := e.set(act, uid, 7, 10)
			require.False(t, again.Changed, "the same grade again changes nothing")
			require.Equal(t, 1, again.Version)

			// A change in the same second, and one with the clock gone back,
			// still move forward by a second each.
			c = e.set(act, uid, 8, 10)
			require.Equal(t, 2, c.Version)
			e.setClock(t0.Add(-time.Hour))
			c = e.set(act, uid, 9, 10)
			require.Equal(t, 3, c.Version)
			require.NoError(t, db.First(&g, c.GradeID).Error)
			require.Equal(t, t0.Truncate(time.Second).Add(2*time.Second), g.Timestamp.UTC())

			_, err := e.svc.Set(context.Background(), act, []grade.Entry{{UserID: uid}}, "test", "teacher1")
			require.NoError(t, err)
			require.NoError(t, db.First(&g, c.GradeID).Error)
			require.Nil(t, g.Score, "a nil score clears the grade")
			require.Equal(t, 4, g.Version)
			require.Equal(t, 4, e.delivery(g.ID).Version)

			// Clearing a grade nobody gave writes nothing.
			other := e.launch13(student(2), course101, lab1)
			ch, err := e.svc.Set(context.Background(), act, []grade.Entry{{UserID: other.User.ID}}, "test", "t")
			require.NoError(t, err)
			require.False(t, ch[0].Changed)
			var n int64
			require.NoError(t, db.Model(&store.Grade{}).Where("user_id = ?", other.User.ID).Count(&n).Error)
			require.Zero(t, n)
		})
	}
}

func TestSetRefusesBadInput(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), nil)
	s := e.launch13(student(1), course101, lab1)
	for name, entries := range map[string][]grade.Entry{
		"above the maximum": {{UserID: s.User.ID, Score: ptr(11), Maximum: 10}},
		"negative":          {{UserID: s.User.ID, Score: ptr(-1), Maximum: 10}},
		"not a number":      {{UserID: s.User.ID, Score: ptr(math.NaN()), Maximum: 10}},
		"zero maximum":      {{UserID: s.User.ID, Score: ptr(0), Maximum: -1}},
		"twice":             {{UserID: s.User.ID, Score: ptr(1)}, {UserID: s.User.ID, Score: ptr(2)}},
		"nobody":            {{Score: ptr(1)}},
	} {
		_, err := e.svc.Set(context.Background(), s.Activity.ID, entries, "test", "t")
		var ie *grade.InputError
		require.ErrorAs(t, err, &ie, name)
	}
	var n int64
	require.NoError(t, e.db.Model(&store.Grade{}).Count(&n).Error)
	require.Zero(t, n)
	// Without a maximum the activity's is used: 100 by default.
	c := e.set(s.Activity.ID, s.User.ID, 55, 0)
	var g store.Grade
	require.NoError(t, e.db.First(&g, c.GradeID).Error)
	require.Equal(t, 100.0, g.Maximum)
}

// Grades go to the launch's line item over AGS, scaled by the platform,
// with one access token for all of them.
func TestDeliverAGS(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, db, nil)
			a := e.launch13(student(1), course101, lab1)
			b := e.launch13(student(2), course101, lab1)
			ca := e.set(a.Activity.ID, a.User.ID, 7, 10)
			cb := e.set(b.Activity.ID, b.User.ID, 3.5, 10)
			e.deliverDue()

			item := e.lineItem(lab1)
			for _, tc := range []struct {
				c    grade.Change
				user lms.User
				want float64
			}{{ca, student(1), 70}, {cb, student(2), 35}} {
				score, _, ok := e.p.Grade(item, tc.user.ID)
				require.True(t, ok)
				require.InDelta(t, tc.want, *score, 1e-9)
				d := e.delivery(tc.c.GradeID)
				require.Equal(t, store.DeliveryDelivered, d.State)
				require.Equal(t, 1, d.DeliveredVersion)
				require.Equal(t, grade.TargetAGS, d.Target)
				require.Equal(t, "delivered", grade.Describe(&store.Grade{}, &d).State)
			}

			// A new grade goes out again; clearing clears it in the LMS.
			e.set(a.Activity.ID, a.User.ID, 10, 10)
			e.deliverDue()
			score, _, _ := e.p.Grade(item, student(1).ID)
			require.InDelta(t, 100, *score, 1e-9)
			_, err := e.svc.Set(context.Background(), a.Activity.ID, []grade.Entry{{UserID: a.User.ID}}, "test", "t")
			require.NoError(t, err)
			e.deliverDue()
			score, _, ok := e.p.Grade(item, student(1).ID)
			require.True(t, ok)
			require.Nil(t, score)
			require.Len(t, e.p.GradeHistory(item, student(1).ID), 3)
			require.Equal(t, 1, e.p.TokenRequests())
		})
	}
}

// LTI 1.1 grades go as a fraction with replaceResult; a cleared grade is
// deleted.
func TestDeliverOutcomes(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), nil)
	s := e.launch11(student(1), course101, lab1)
	c := e.set(s.Activity.ID, s.User.ID, 3, 4)
	e.deliverDue()
	item := e.p.LineItemURL(course101, lab1, consumerKey)
	score, _, ok := e.p.Grade(item, student(1).ID)
	require.True(t, ok)
	require.InDelta(t, 75, *score, 1e-9)
	d := e.delivery(c.GradeID)
	require.Equal(t, store.DeliveryDelivered, d.State)
	require.Equal(t, grade.TargetOutcomes, d.Target)
	require.Zero(t, d.SendingVersion)

	_, err := e.svc.Set(context.Background(), s.Activity.ID, []grade.Entry{{UserID: s.User.ID}}, "test", "t")
	require.NoError(t, err)
	e.deliverDue()
	score, _, ok = e.p.Grade(item, student(1).ID)
	require.True(t, ok)
	require.Nil(t, score)
	require.Equal(t, 2, e.p.OutcomeRequests(), "one replace, one delete, no reads")
}

// Moodle does not grade teachers: the refusal is permanent, shown with a
// reason, and a retry tries once more.
func TestTeacherGradeFailsPermanently(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), nil)
	tc := e.launch13(teacher, course101, lab1)
	c := e.set(tc.Activity.ID, tc.User.ID, 5, 10)
	e.deliverDue()
	d := e.delivery(c.GradeID)
	require.Equal(t, store.DeliveryFailed, d.State)
	require.Equal(t, grade.CodeNotGradable, d.Code)
	require.Equal(t, 1, d.Attempts)
	st := grade.Describe(&store.Grade{}, &d)
	require.Equal(t, "failed", st.State)
	require.True(t, st.Retry)
	require.Contains(t, st.Detail, "Moodle grades only students")
	before := e.p.ScoreRequests()
	e.deliverDue()
	require.Equal(t, before, e.p.ScoreRequests(), "a failed grade is not sent again by itself")

	n, err := e.svc.Retry(context.Background(), tc.Activity.ID, nil)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	e.deliverDue()
	require.Equal(t, before+1, e.p.ScoreRequests())
	require.Equal(t, store.DeliveryFailed, e.delivery(c.GradeID).State)
}

// An LMS whose web server drops the Authorization header: every grade
// fails with an explanation, and the token endpoint is asked twice in all.
func TestUnauthorizedReportedWithoutTokenLoop(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), nil)
	var entries []grade.Entry
	var act uint
	for i := range 30 {
		s := e.launch13(student(i), course101, lab1)
		act = s.Activity.ID
		entries = append(entries, grade.Entry{UserID: s.User.ID, Score: ptr(float64(i)), Maximum: 30})
	}
	_, err := e.svc.Set(context.Background(), act, entries, "csv", "teacher1")
	require.NoError(t, err)
	e.p.SetDropAuthorizationHeader(true)
	e.deliverDue()
	var ds []store.GradeDelivery
	require.NoError(t, e.db.Find(&ds).Error)
	require.Len(t, ds, 30)
	for _, d := range ds {
		require.Equal(t, store.DeliveryFailed, d.State)
		require.Equal(t, grade.CodeUnauthorized, d.Code)
		require.Contains(t, d.LastError, "Authorization header")
	}
	require.Equal(t, 2, e.p.TokenRequests())

	// Fixed by the administrator, a retry delivers them all.
	e.p.SetDropAuthorizationHeader(false)
	n, err := e.svc.Retry(context.Background(), act, nil)
	require.NoError(t, err)
	require.Equal(t, 30, n)
	e.deliverDue()
	require.NoError(t, e.db.Where("state = ?", store.DeliveryDelivered).Find(&ds).Error)
	require.Len(t, ds, 30)
	require.Equal(t, 2, e.p.TokenRequests())
}

// A token endpoint that refuses Labhub's client assertion with 401 and an
// OAuth error code (RFC 6749 allows it for invalid_client) is reported as a
// refused registration, not as a dropped Authorization header, and is not
// asked again for every grade.
func TestTokenEndpoint401ReportedAsRefusedClient(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), nil)
	var entries []grade.Entry
	var act uint
	for i := range 10 {
		s := e.launch13(student(i), course101, lab1)
		act = s.Activity.ID
		entries = append(entries, grade.Entry{UserID: s.User.ID, Score: ptr(float64(i)), Maximum: 10})
	}
	_, err := e.svc.Set(context.Background(), act, entries, "csv", "teacher1")
	require.NoError(t, err)
	// The LMS no longer knows the tool's key: its client assertion fails.
	e.p.AddTool(lms.Tool{ClientID: e.clientID, DeploymentID: "1", JWKSURL: "http://127.0.0.1:9/keys"})
	e.p.SetTokenRefusalStatus(http.StatusUnauthorized)
	e.deliverDue()
	var ds []store.GradeDelivery
	require.NoError(t, e.db.Find(&ds).Error)
	require.Len(t, ds, 10)
	for _, d := range ds {
		require.Equal(t, store.DeliveryFailed, d.State)
		require.Equal(t, grade.CodeTokenRefused, d.Code)
		require.Contains(t, d.LastError, "client assertion")
		require.Contains(t, d.LastError, "invalid_client")
		require.NotContains(t, d.LastError, "Authorization header")
	}
	require.Equal(t, 1, e.p.TokenRequests(), "a refused client is not asked again for every grade")

	// Fixed by the administrator, a retry asks the LMS again and delivers.
	e.p.SetTokenRefusalStatus(0)
	e.p.AddTool(lms.Tool{ClientID: e.clientID, DeploymentID: "1", JWKSURL: e.jwksURL})
	n, err := e.svc.Retry(context.Background(), act, nil)
	require.NoError(t, err)
	require.Equal(t, 10, n)
	e.deliverDue()
	require.NoError(t, e.db.Where("state = ?", store.DeliveryDelivered).Find(&ds).Error)
	require.Len(t, ds, 10)
	require.Equal(t, 2, e.p.TokenRequests())
}

// While the LMS is down a grade waits with a growing backoff, then goes
// out once it is back.
func TestRetryWhileLMSDown(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), func(o *grade.Options) {
		o.RetryMin, o.RetryMax = 10*time.Second, time.Minute
		o.Jitter = func() float64 { return 0.5 }
	})
	s := e.launch13(student(1), course101, lab1)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	e.setClock(t0)
	c := e.set(s.Activity.ID, s.User.ID, 7, 10)
	e.p.SetDown(true)
	for attempt, wantWait := range []time.Duration{7500 * time.Millisecond, 15 * time.Second, 30 * time.Second,
		45 * time.Second, 45 * time.Second} {
		e.deliverDue()
		d := e.delivery(c.GradeID)
		require.Equal(t, store.DeliveryPending, d.State)
		require.Equal(t, attempt+1, d.Attempts)
		require.Equal(t, grade.CodeUnavailable, d.Code)
		now := e.Now()
		require.Equal(t, wantWait, d.NextAttemptAt.Sub(now), "attempt %d", attempt+1)
		require.Equal(t, "retrying", grade.Describe(&store.Grade{}, &d).State)
		// Not due before its time.
		e.setClock(now.Add(wantWait - time.Second))
		e.deliverDue()
		require.Equal(t, attempt+1, e.delivery(c.GradeID).Attempts)
		e.setClock(now.Add(wantWait))
	}
	e.p.SetDown(false)
	e.deliverDue()
	require.Equal(t, store.DeliveryDelivered, e.delivery(c.GradeID).State)
	score, _, _ := e.p.Grade(e.lineItem(lab1), student(1).ID)
	require.InDelta(t, 70, *score, 1e-9)
}

func TestBackoff(t *testing.T) {
	lo, hi := 5*time.Second, time.Hour
	for attempt, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 3: 20 * time.Second,
		10: 2560 * time.Second, 11: time.Hour, 50: time.Hour} {
		require.Equal(t, want/2, grade.Backoff(attempt, lo, hi, 0), "attempt %d", attempt)
		require.Equal(t, want*3/4, grade.Backoff(attempt, lo, hi, 0.5), "attempt %d", attempt)
		require.Less(t, grade.Backoff(attempt, lo, hi, 0.999999), want, "attempt %d", attempt)
	}
}

// holdScores blocks the platform's first score request until released.
type holdScores struct {
	h        http.Handler
	mu       sync.Mutex
	held     bool
	posts    int
	arrived  chan struct{}
	released chan struct{}
	release  sync.Once
}

func (hs *holdScores) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hs.mu.Lock()
	isScore := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/scores")
	if isScore {
		hs.posts++
	}
	first := isScore && !hs.held
	if first {
		hs.held = true
	}
	hs.mu.Unlock()
	if first {
		close(hs.arrived)
		<-hs.released
	}
	hs.h.ServeHTTP(w, r)
}

// A grade changed while its previous version is on the way: the old
// version lands first, the new one after it, never the other way round.
func TestNewerGradeNeverReplacedByOlder(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), nil)
	hs := &holdScores{h: e.p.Handler(), arrived: make(chan struct{}), released: make(chan struct{})}
	e.lms.Config.Handler = hs
	free := func() { hs.release.Do(func() { close(hs.released) }) }
	t.Cleanup(free)
	s := e.launch13(student(1), course101, lab1)
	c := e.set(s.Activity.ID, s.User.ID, 4, 10)
	done := make(chan struct{})
	go func() { defer close(done); e.deliverDue() }()
	<-hs.arrived
	e.set(s.Activity.ID, s.User.ID, 9, 10)
	// The newer version is not sent while the older one is under way.
	_, err := e.svc.DeliverDue(context.Background())
	require.NoError(t, err)
	hs.mu.Lock()
	require.Equal(t, 1, hs.posts)
	hs.mu.Unlock()
	free()
	<-done
	d := e.delivery(c.GradeID)
	require.Equal(t, store.DeliveryDelivered, d.State)
	require.Equal(t, 2, d.DeliveredVersion)
	h := e.p.GradeHistory(e.lineItem(lab1), student(1).ID)
	require.Len(t, h, 2)
	require.InDelta(t, 40, *h[0].Score, 1e-9)
	require.InDelta(t, 90, *h[1].Score, 1e-9)
}

// A delivery whose answer was lost (Labhub stopped between sending and
// recording) is sent again, and the platform still records the grade once.
func TestResendAfterLostAnswer(t *testing.T) {
	lose := func(e *env, gradeID uint, sending bool) {
		upd := map[string]any{"state": store.DeliveryPending, "delivered_version": 0}
		if sending {
			upd["sending_version"] = 1
		}
		require.NoError(t, e.db.Model(&store.GradeDelivery{}).Where("grade_id = ?", gradeID).Updates(upd).Error)
	}
	t.Run("ags", func(t *testing.T) {
		e := newEnv(t, testutil.SQLite(t), nil)
		s := e.launch13(student(1), course101, lab1)
		c := e.set(s.Activity.ID, s.User.ID, 6, 10)
		e.deliverDue()
		lose(e, c.GradeID, false)
		e.deliverDue()
		require.Equal(t, 2, e.p.ScoreRequests())
		d := e.delivery(c.GradeID)
		require.Equal(t, store.DeliveryDelivered, d.State, "the 409 to the repeat counts as delivered")
		require.Len(t, e.p.GradeHistory(e.lineItem(lab1), student(1).ID), 1)
	})
	t.Run("outcomes", func(t *testing.T) {
		e := newEnv(t, testutil.SQLite(t), nil)
		s := e.launch11(student(1), course101, lab1)
		c := e.set(s.Activity.ID, s.User.ID, 6, 10)
		e.deliverDue()
		lose(e, c.GradeID, true)
		e.deliverDue()
		require.Equal(t, 2, e.p.OutcomeRequests(), "the repeat only reads")
		require.Equal(t, store.DeliveryDelivered, e.delivery(c.GradeID).State)
		item := e.p.LineItemURL(course101, lab1, consumerKey)
		require.Len(t, e.p.GradeHistory(item, student(1).ID), 1)

		// If the platform does not have it, the repeat sends it.
		_, err := e.svc.Set(context.Background(), s.Activity.ID, []grade.Entry{{UserID: s.User.ID, Score: ptr(8),
			Maximum: 10}}, "test", "t")
		require.NoError(t, err)
		require.NoError(t, e.db.Model(&store.GradeDelivery{}).Where("grade_id = ?", c.GradeID).
			Update("sending_version", 2).Error)
		e.deliverDue()
		require.Equal(t, 4, e.p.OutcomeRequests(), "a read, then the replace")
		score, _, _ := e.p.Grade(item, student(1).ID)
		require.InDelta(t, 80, *score, 1e-9)
	})
}

// A student known from the roster but who never launched the LTI 1.1
// activity has no sourcedid yet: the grade waits, and goes out after their
// launch.
func TestWaitingUntilLaunch(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), nil)
	first := e.launch11(student(1), course101, lab1)
	u := store.User{Name: "student2"}
	require.NoError(t, e.db.Create(&u).Error)
	require.NoError(t, e.db.Create(&store.Enrollment{CourseID: first.Course.ID, UserID: u.ID,
		Role: store.RoleLearner}).Error)
	c := e.set(first.Activity.ID, u.ID, 1, 2)
	e.deliverDue()
	d := e.delivery(c.GradeID)
	require.Equal(t, store.DeliveryWaiting, d.State)
	require.Equal(t, grade.CodeNotLinked, d.Code)
	require.Equal(t, "waiting", grade.Describe(&store.Grade{}, &d).State)

	// The same person launches (their identity is matched by the launch).
	require.NoError(t, e.db.Create(&store.Identity{UserID: u.ID, Provider: first.Course.Provider,
		Subject: student(2).ID}).Error)
	e.launch11(student(2), course101, lab1)
	time.Sleep(60 * time.Millisecond) // WaitingRetry
	e.deliverDue()
	require.Equal(t, store.DeliveryDelivered, e.delivery(c.GradeID).State)
	score, _, _ := e.p.Grade(e.p.LineItemURL(course101, lab1, consumerKey), student(2).ID)
	require.InDelta(t, 50, *score, 1e-9)
}

// An activity without a gradebook column gets one, created once however
// many grades go out together, and found again instead of created twice.
func TestLineItemCreatedOnce(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), func(o *grade.Options) { o.Concurrency = 8 })
	ungraded := lms.Link{ID: "9", Title: "Project"}
	var entries []grade.Entry
	var act uint
	for i := range 12 {
		s := e.launch13(student(i), course101, ungraded)
		act = s.Activity.ID
		require.Empty(t, s.Activity.AGSLineItem)
		require.NotEmpty(t, s.Activity.AGSLineItems)
		entries = append(entries, grade.Entry{UserID: s.User.ID, Score: ptr(float64(i)), Maximum: 20})
	}
	require.NoError(t, e.svc.Configure(context.Background(), act, grade.Settings{ScoreMaximum: 20}))
	_, err := e.svc.Set(context.Background(), act, entries, "api", "grader")
	require.NoError(t, err)
	e.deliverDue()

	a, err := e.svc.Assignment(context.Background(), act)
	require.NoError(t, err)
	require.NotEmpty(t, a.LineItemURL)
	ags := e.opts.AGS
	plat, err := e.reg.PlatformByID(context.Background(), e.provider[len("lti13:"):])
	require.NoError(t, err)
	var container string
	require.NoError(t, e.db.Model(&store.Activity{}).Where("id = ?", act).Pluck("ags_line_items", &container).Error)
	items, err := ags.LineItems(context.Background(), plat, container, url.Values{"resource_id": {"labhub:9"}})
	require.NoError(t, err)
	require.Len(t, items, 1)
	require.Equal(t, a.LineItemURL, items[0].ID)
	require.Equal(t, "Project", items[0].Label)
	require.Equal(t, 20.0, items[0].ScoreMaximum)
	for i := range 12 {
		score, _, ok := e.p.Grade(a.LineItemURL, student(i).ID)
		require.True(t, ok)
		require.InDelta(t, float64(i), *score, 1e-9)
	}

	// A column created by an attempt whose answer was lost is found.
	other := lms.Link{ID: "10", Title: "Essay"}
	s := e.launch13(student(1), course101, other)
	li, err := ags.CreateLineItem(context.Background(), plat, container, advantage.LineItem{Label: "Essay",
		ScoreMaximum: 100, ResourceID: "labhub:10", Tag: "labhub", ResourceLinkID: "10"})
	require.NoError(t, err)
	e.set(s.Activity.ID, s.User.ID, 50, 100)
	e.deliverDue()
	a, err = e.svc.Assignment(context.Background(), s.Activity.ID)
	require.NoError(t, err)
	require.Equal(t, li.ID, a.LineItemURL)
}

// The worker delivers what is queued while it runs, and what another
// process queued, and stops with its context.
func TestRunDelivers(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.svc.Run(ctx) }()
	s := e.launch13(student(1), course101, lab1)
	c := e.set(s.Activity.ID, s.User.ID, 1, 1)
	require.Eventually(t, func() bool { return e.delivery(c.GradeID).State == store.DeliveryDelivered },
		5*time.Second, 10*time.Millisecond)

	// A second service on the same database stands for the command line.
	cli := grade.New(e.db, grade.Options{})
	s2 := e.launch13(student(2), course101, lab1)
	ch, err := cli.Set(context.Background(), s2.Activity.ID, []grade.Entry{{UserID: s2.User.ID, Score: ptr(0.5),
		Maximum: 1}}, "cli", "admin")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.delivery(ch[0].GradeID).State == store.DeliveryDelivered },
		5*time.Second, 10*time.Millisecond)
	cancel()
	<-done
}

// The roster holds the course's learners, graded or not, and anyone else
// with a grade, with their latest hand-in.
func TestRoster(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), nil)
	a := e.launch13(student(1), course101, lab1)
	e.launch13(student(2), course101, lab1)
	tc := e.launch13(teacher, course101, lab1)
	e.set(a.Activity.ID, a.User.ID, 5, 10)
	e.set(a.Activity.ID, tc.User.ID, 5, 10)
	now := time.Now().UTC()
	for i, st := range []string{store.HandinDone, store.HandinDone, store.HandinCopying} {
		require.NoError(t, e.db.Create(&store.Handin{ActivityID: a.Activity.ID, UserID: a.User.ID, State: st,
			Path: "x/" + string(rune('a'+i)), CreatedAt: now.Add(time.Duration(i) * time.Minute)}).Error)
	}
	// Someone the LMS's roster brought in, who never launched.
	u3 := store.User{Name: "student3"}
	require.NoError(t, e.db.Create(&u3).Error)
	require.NoError(t, e.db.Create(&store.Enrollment{CourseID: a.Course.ID, UserID: u3.ID, Role: store.RoleLearner}).Error)
	rows, err := e.svc.Roster(context.Background(), a.Activity)
	require.NoError(t, err)
	require.Len(t, rows, 4)
	require.Equal(t, "student3", rows[2].User.Name)
	require.Nil(t, rows[2].Grade)
	rows = append(rows[:2], rows[3:]...)
	require.Equal(t, "student1", rows[0].User.Name)
	require.NotNil(t, rows[0].Grade)
	require.NotNil(t, rows[0].Delivery)
	require.Equal(t, 2, rows[0].Handins, "a hand-in still being copied does not count")
	require.Equal(t, "x/b", rows[0].Handin.Path)
	require.Equal(t, "student2", rows[1].User.Name)
	require.Nil(t, rows[1].Grade)
	require.Equal(t, "none", grade.Describe(rows[1].Grade, rows[1].Delivery).State)
	require.Equal(t, "teacher1", rows[2].User.Name)
	require.Equal(t, store.RoleInstructor, rows[2].Role)
}

// A comment that comes back from a form with CRLF line ends and spaces
// around it is the same comment: the grade does not change.
func TestCommentRoundTrip(t *testing.T) {
	e := newEnv(t, testutil.SQLite(t), nil)
	s := e.launch13(student(1), course101, lab1)
	ctx := context.Background()
	set := func(comment string) grade.Change {
		ch, err := e.svc.Set(ctx, s.Activity.ID, []grade.Entry{{UserID: s.User.ID, Score: ptr(1), Maximum: 2,
			Comment: comment}}, "page", "t")
		require.NoError(t, err)
		return ch[0]
	}
	require.True(t, set("Good.\nSee line 3.").Changed)
	require.False(t, set("Good.\r\nSee line 3.\r\n").Changed)
	require.False(t, set("  Good.\nSee line 3.").Changed)
	require.True(t, set("Good.").Changed)
}
