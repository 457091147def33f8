package course_test

import (
	"context"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/unicode/norm"

	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/store"
)

var nonceSeq int

// launch11 signs params as an LMS would and returns the verified launch, so
// the tests exercise real launches.
func launch11(t *testing.T, params map[string]string) *lti.Launch {
	t.Helper()
	const launchURL, key, secret = "https://labhub.example/hub/lti/launch", "k", "s"
	now := time.Now()
	v := url.Values{}
	for k, val := range map[string]string{
		"lti_message_type": "basic-lti-launch-request", "lti_version": "LTI-1p0", "resource_link_id": "rl1",
		"oauth_consumer_key": key, "oauth_signature_method": "HMAC-SHA1", "oauth_version": "1.0",
		"oauth_timestamp": strconv.FormatInt(now.Unix(), 10), "context_id": "ctx1", "context_label": "LTI 101",
		"context_title": "LTI Course", "roles": "Learner",
	} {
		v.Set(k, val)
	}
	nonceSeq++
	v.Set("oauth_nonce", "n"+strconv.Itoa(nonceSeq))
	for k, val := range params {
		if val == "" {
			v.Del(k)
			continue
		}
		v.Set(k, val)
	}
	sig, err := lti.Sign("POST", launchURL, v, secret, "")
	require.NoError(t, err)
	v.Set("oauth_signature", sig)
	ver := &lti.LTI11Verifier{
		Secrets: func(context.Context, string) (string, error) { return secret, nil },
		Nonces:  &lti.MemoryNonceStore{},
	}
	l, err := ver.Verify(context.Background(), "POST", launchURL, v)
	require.NoError(t, err)
	return l
}

func TestRecordLaunchIdentity(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := course.NewService(db, nil)

			a, err := s.RecordLaunch(ctx, "lti11:1", launch11(t, map[string]string{"user_id": "4", "ext_user_username": "Student1"}))
			require.NoError(t, err)
			require.Equal(t, "student1", a.User.Name, "usernames are lower-cased")
			require.True(t, a.NewUser)

			again, err := s.RecordLaunch(ctx, "lti11:1", launch11(t, map[string]string{"user_id": "4", "ext_user_username": "renamed"}))
			require.NoError(t, err)
			require.Equal(t, a.User.ID, again.User.ID, "(platform, subject) maps to one user")
			require.False(t, again.NewUser)

			other, err := s.RecordLaunch(ctx, "lti13:7", launch11(t, map[string]string{"user_id": "4", "ext_user_username": "student1"}))
			require.NoError(t, err)
			require.NotEqual(t, a.User.ID, other.User.ID, "the same subject on another platform is another person")
			require.Equal(t, "student1-2", other.User.Name, "usernames stay unique across platforms")

			nfd := norm.NFD.String("Ángel")
			u, err := s.RecordLaunch(ctx, "lti11:1", launch11(t, map[string]string{"user_id": "5", "ext_user_username": nfd}))
			require.NoError(t, err)
			require.Equal(t, norm.NFC.String("ángel"), u.User.Name, "usernames are NFC")

			anon, err := s.RecordLaunch(ctx, "lti11:1", launch11(t, map[string]string{"user_id": "6"}))
			require.NoError(t, err)
			require.Equal(t, "u6", anon.User.Name, "without a shared username a stable id is used")

			odd, err := s.RecordLaunch(ctx, "lti11:1", launch11(t, map[string]string{"user_id": "a/b c"}))
			require.NoError(t, err)
			require.Regexp(t, `^u-[0-9a-f]{16}$`, odd.User.Name)

			bad, err := s.RecordLaunch(ctx, "lti11:1", launch11(t, map[string]string{"user_id": "7", "ext_user_username": "../etc"}))
			require.NoError(t, err)
			require.Equal(t, "u7", bad.User.Name, "a username with a slash falls back to the stable id")

			s.UsernameKey11 = "lis_person_contact_email_primary"
			e, err := s.RecordLaunch(ctx, "lti11:1", launch11(t, map[string]string{"user_id": "8",
				"ext_user_username": "ignored", "lis_person_contact_email_primary": "Eve@Example.org"}))
			require.NoError(t, err)
			require.Equal(t, "eve@example.org", e.User.Name, "a configured claim names the user")
		})
	}
}

func TestRecordLaunchCourseAndRoles(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := course.NewService(db, nil)
			sourced := `{"data":{"instanceid":"2","userid":"4"},"hash":"<&>"}`
			a, err := s.RecordLaunch(ctx, "lti11:1", launch11(t, map[string]string{"user_id": "4",
				"lis_result_sourcedid": sourced, "lis_outcome_service_url": "https://lms.example/mod/lti/service.php"}))
			require.NoError(t, err)
			require.Equal(t, "lti-101", a.Course.Slug)
			require.Equal(t, store.RoleLearner, a.Enrollment.Role)
			var gl store.GradeLink
			require.NoError(t, db.Where("activity_id = ? AND user_id = ?", a.Activity.ID, a.User.ID).First(&gl).Error)
			require.Equal(t, sourced, gl.ResultSourcedID, "the sourcedid is stored verbatim")

			// The same context label on another platform is another course.
			b, err := s.RecordLaunch(ctx, "lti11:2", launch11(t, map[string]string{"user_id": "4"}))
			require.NoError(t, err)
			require.NotEqual(t, a.Course.ID, b.Course.ID)
			require.Equal(t, "lti-101-2", b.Course.Slug)

			// The LMS decides the role at every launch.
			c, err := s.RecordLaunch(ctx, "lti11:1", launch11(t, map[string]string{"user_id": "4", "roles": "Instructor"}))
			require.NoError(t, err)
			require.Equal(t, a.Course.ID, c.Course.ID)
			require.Equal(t, store.RoleInstructor, c.Enrollment.Role)
			var n int64
			require.NoError(t, db.Model(&store.Enrollment{}).Where("user_id = ?", a.User.ID).Count(&n).Error)
			require.EqualValues(t, 1, n, "one enrollment per user and course, updated in place")

			inst, err := s.RecordLaunch(ctx, "lti11:1", launch11(t, map[string]string{"user_id": "9",
				"roles": "urn:lti:instrole:ims/lis/Instructor"}))
			require.NoError(t, err)
			require.Equal(t, store.RoleLearner, inst.Enrollment.Role, "an institution role never makes a course instructor")

			site, err := s.RecordLaunch(ctx, "lti11:1", launch11(t, map[string]string{"user_id": "10",
				"context_id": "", "context_label": "", "context_title": "", "resource_link_id": "site-link"}))
			require.NoError(t, err)
			require.Equal(t, "link:site-link", site.Course.ContextID, "a link outside a course is a course of its own")
		})
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"LTI101": "lti101", "Data Science 1 (2026)": "data-science-1-2026", "Éléments": "elements",
		"": "course", "!!!": "course", "数学": "course",
		"a-very-long-course-label-that-goes-on-and-on-forever": "a-very-long-course-label-that-goes-on-an",
	} {
		require.Equal(t, want, course.Slug(in), "%q", in)
		require.LessOrEqual(t, len(course.Slug(in)), 40)
	}
}

func TestPathEscape(t *testing.T) {
	for in, want := range map[string]string{
		"alice": "alice", "a@b.c": "a@b.c", "~u": "~u", "a b": "a%20b", "a/b": "a%2Fb", "é": "%C3%A9", "a%b": "a%25b",
	} {
		require.Equal(t, want, course.PathEscape(in))
	}
}

// A launch of a blocked name writes nothing, whether the person is new or
// already known.
func TestRecordLaunchBlocked(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			svc := course.NewService(db, nil)
			known := map[string]string{"user_id": "7", "ext_user_username": "mallory"}
			_, err := svc.RecordLaunch(ctx, "lti11:1", launch11(t, known))
			require.NoError(t, err)
			svc.Blocked = func(name string) bool { return name == "mallory" || name == "root" }
			var before int64
			require.NoError(t, db.Model(&store.Identity{}).Count(&before).Error)

			e, err := svc.RecordLaunch(ctx, "lti11:1", launch11(t, known))
			require.ErrorIs(t, err, course.ErrBlocked)
			require.Equal(t, "mallory", e.User.Name)
			e, err = svc.RecordLaunch(ctx, "lti13:2", launch11(t, map[string]string{"user_id": "9", "ext_user_username": "Root"}))
			require.ErrorIs(t, err, course.ErrBlocked)
			require.Equal(t, "root", e.User.Name)
			var after, roots int64
			require.NoError(t, db.Model(&store.Identity{}).Count(&after).Error)
			require.Equal(t, before, after)
			require.NoError(t, db.Model(&store.User{}).Where("name LIKE ?", "root%").Count(&roots).Error)
			require.Zero(t, roots)
		})
	}
}
