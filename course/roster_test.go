package course_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/store"
)

// members parses an NRPS page body the way the roster client does.
func members(t *testing.T, entries ...string) []lti.Member {
	t.Helper()
	page, err := lti.ParseMemberships([]byte(`{"members":[`+strings.Join(entries, ",")+`]}`), "", "https://lms.test/m")
	require.NoError(t, err)
	return page.Members
}

func roleOf(t *testing.T, db *store.DB, courseID uint, user string) string {
	t.Helper()
	var e store.Enrollment
	require.NoError(t, db.Joins("JOIN users ON users.id = enrollments.user_id").
		Where("enrollments.course_id = ? AND users.name = ?", courseID, user).First(&e).Error)
	return e.Role
}

func TestSyncRoster(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := course.NewService(db, nil)
			const provider = "lti13:1"
			// The teacher's launch creates the course.
			teacher, err := s.RecordLaunch(ctx, provider, &lti.Launch{Version: "1.3", Subject: "3", Username: "teacher1",
				Roles: lti.Roles{Course: lti.RoleInstructor}, Context: lti.Context{ID: "2", Label: "LTI101"},
				ResourceLink: lti.ResourceLink{ID: "1"}})
			require.NoError(t, err)
			cid := teacher.Course.ID

			res, err := s.SyncRoster(ctx, provider, cid, members(t,
				`{"user_id":"3","roles":["Instructor"],"name":"Terry Teacher"}`,
				`{"user_id":"4","roles":["Learner"],"name":"Sam Student","email":"s@x"}`,
				`{"user_id":"5","roles":["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]}`,
				`{"user_id":"6","roles":["http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"]}`,
				`{"user_id":"7","roles":["urn:lti:role:ims/lis/Learner"]}`,
				`{"user_id":"8","roles":["http://purl.imsglobal.org/vocab/lis/v2/person#Administrator"]}`,
				`{"user_id":"9","roles":["Learner"],"status":"Inactive"}`,
			), lti.RoleMapping{})
			require.NoError(t, err)
			require.Equal(t, course.RosterResult{Members: 6, NewUsers: 5, NewEnrollments: 5, Skipped: 1}, res)
			require.Equal(t, store.RoleInstructor, roleOf(t, db, cid, "teacher1"), "the teacher keeps their launch's user")
			require.Equal(t, store.RoleLearner, roleOf(t, db, cid, "u4"))
			require.Equal(t, store.RoleLearner, roleOf(t, db, cid, "u5"), "role URIs")
			require.Equal(t, store.RoleInstructor, roleOf(t, db, cid, "u6"), "sub-roles")
			require.Equal(t, store.RoleLearner, roleOf(t, db, cid, "u7"), "lti 1.1 urns")
			require.Equal(t, store.RoleLearner, roleOf(t, db, cid, "u8"), "no course role: a learner")
			var u4 store.User
			require.NoError(t, db.Where("name = ?", "u4").First(&u4).Error)
			require.Equal(t, "Sam Student", u4.DisplayName)
			require.Equal(t, "s@x", u4.Email)

			// Syncing again changes nothing; a role the roster states wins.
			res, err = s.SyncRoster(ctx, provider, cid, members(t,
				`{"user_id":"4","roles":["Instructor"]}`,
				`{"user_id":"8","roles":[]}`), lti.RoleMapping{})
			require.NoError(t, err)
			require.Equal(t, course.RosterResult{Members: 2}, res)
			require.Equal(t, store.RoleInstructor, roleOf(t, db, cid, "u4"))
			require.Equal(t, store.RoleLearner, roleOf(t, db, cid, "u8"))

			// The first launch of someone the roster listed names them as a
			// launch would, and keeps their user.
			first, err := s.RecordLaunch(ctx, provider, &lti.Launch{Version: "1.3", Subject: "5", Username: "student5",
				Roles: lti.Roles{Course: lti.RoleLearner}, Context: lti.Context{ID: "2"}, ResourceLink: lti.ResourceLink{ID: "1"}})
			require.NoError(t, err)
			require.Equal(t, "student5", first.User.Name)
			require.False(t, first.NewUser)
			var n int64
			require.NoError(t, db.Model(&store.User{}).Where("name = ?", "u5").Count(&n).Error)
			require.Zero(t, n)
			// Later launches no longer rename.
			again, err := s.RecordLaunch(ctx, provider, &lti.Launch{Version: "1.3", Subject: "5", Username: "other",
				Roles: lti.Roles{Course: lti.RoleLearner}, Context: lti.Context{ID: "2"}, ResourceLink: lti.ResourceLink{ID: "1"}})
			require.NoError(t, err)
			require.Equal(t, first.User.ID, again.User.ID)
			require.Equal(t, "student5", again.User.Name)
		})
	}
}

func TestSyncRosterLarge(t *testing.T) {
	ctx := context.Background()
	db := testutil.SQLite(t)
	s := course.NewService(db, nil)
	c := store.Course{Provider: "lti13:1", ContextID: "big", Slug: "big"}
	require.NoError(t, db.Create(&c).Error)
	var entries []string
	for i := range 230 {
		entries = append(entries, fmt.Sprintf(`{"user_id":"%d","roles":["Learner"]}`, 1000+i))
	}
	res, err := s.SyncRoster(ctx, "lti13:1", c.ID, members(t, entries...), lti.RoleMapping{})
	require.NoError(t, err)
	require.Equal(t, 230, res.NewEnrollments)
}

func TestRosterSyncerRunsOncePerInterval(t *testing.T) {
	ctx := context.Background()
	db := testutil.SQLite(t)
	s := course.NewService(db, nil)
	c := store.Course{Provider: "lti13:1", ContextID: "ctx", Slug: "ctx"}
	require.NoError(t, db.Create(&c).Error)
	var calls atomic.Int32
	release := make(chan struct{})
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &course.RosterSyncer{Service: s, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
		Source: func(ctx context.Context, p lti.Platform, u string) ([]lti.Member, error) {
			calls.Add(1)
			<-release
			if u == "https://lms.test/fail" {
				return nil, errors.New("platform down")
			}
			return members(t, `{"user_id":"4","roles":["Learner"]}`), nil
		}}
	p := lti.Platform{Issuer: "https://lms.test"}
	require.True(t, r.Trigger(p, "lti13:1", c.ID, "https://lms.test/m"))
	for range 10 {
		require.False(t, r.Trigger(p, "lti13:1", c.ID, "https://lms.test/m"), "one sync per course at a time")
	}
	close(release)
	r.Wait()
	require.EqualValues(t, 1, calls.Load())
	var n int64
	require.NoError(t, db.Model(&store.Enrollment{}).Where("course_id = ?", c.ID).Count(&n).Error)
	require.EqualValues(t, 1, n)

	require.False(t, r.Trigger(p, "lti13:1", c.ID, "https://lms.test/m"), "not again within the interval")
	require.False(t, r.Trigger(p, "lti13:1", c.ID, ""), "no memberships service, no sync")
	mu.Lock()
	now = now.Add(course.DefaultRosterInterval)
	mu.Unlock()
	require.True(t, r.Trigger(p, "lti13:1", c.ID, "https://lms.test/fail"))
	r.Wait()
	require.EqualValues(t, 2, calls.Load())
	require.False(t, r.Trigger(p, "lti13:1", c.ID, "https://lms.test/m"), "a failed sync also waits the interval")
	_ = ctx
}

func TestValidStartPath(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "  ": "", "lab.ipynb": "lab.ipynb", "week1/lab.ipynb": "week1/lab.ipynb",
		"./week1//lab.ipynb": "week1/lab.ipynb", "week1/": "week1/", "week 1/Übung.ipynb": "week 1/Übung.ipynb",
		".": "", "a/./b": "a/b",
	} {
		got, problem := course.ValidStartPath(in)
		require.Empty(t, problem, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"/etc/passwd", "../x", "a/../../b", "a/..", "~/x", `a\b`, "a\x00b", "a\nb",
		strings.Repeat("a", 501)} {
		got, problem := course.ValidStartPath(bad)
		require.NotEmpty(t, problem, "%q is refused", bad)
		require.Empty(t, got)
	}
}
