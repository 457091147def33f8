package advantage_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/advantage"
	"github.com/labhub/labhub/lms"
)

var (
	agsStudent = lms.User{ID: "4", Username: "student1", Roles: []string{lms.RoleLearner}}
	agsTeacher = lms.User{ID: "3", Username: "teacher1", Roles: []string{lms.RoleInstructor}}
	agsCourse  = lms.Course{ID: "2", Label: "LTI101", Title: "LTI course"}
	agsLink    = lms.Link{ID: "1", Title: "Lab 1", LineItem: true}
)

func (f *fixture) lineItem(t *testing.T) string {
	f.platform.AddMember(agsCourse, agsStudent, nil)
	f.platform.AddMember(agsCourse, agsTeacher, nil)
	u := f.platform.LineItemURL(agsCourse, agsLink, f.reg.ClientID)
	require.Contains(t, u, "?type_id=1")
	return u
}

func ptr(v float64) *float64 { return &v }

func TestScoresURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://moodle.example/mod/lti/services.php/2/lineitems/5/lineitem?type_id=1": "https://moodle.example/mod/lti/services.php/2/lineitems/5/lineitem/scores?type_id=1",
		"https://canvas.example/api/lti/courses/1/line_items/7":                        "https://canvas.example/api/lti/courses/1/line_items/7/scores",
		"https://lms.example/items/7/?a=1&b=2":                                         "https://lms.example/items/7/scores?a=1&b=2",
		"https://lms.example/items/a%2Fb?x=1":                                          "https://lms.example/items/a%2Fb/scores?x=1",
	} {
		got, err := advantage.ScoresURL(in)
		require.NoError(t, err)
		require.Equal(t, want, got, in)
	}
	_, err := advantage.ScoresURL("/relative")
	require.Error(t, err)
}

func TestPostScore(t *testing.T) {
	f := newFixture(t)
	item := f.lineItem(t)
	ags := &advantage.AGS{Tokens: f.tokens}
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

	require.NoError(t, ags.PostScore(ctx, f.reg, item, advantage.Score{UserID: agsStudent.ID, Given: ptr(7),
		Maximum: 10, Comment: "good", Timestamp: t0}))
	score, ts, ok := f.platform.Grade(item, agsStudent.ID)
	require.True(t, ok)
	require.InDelta(t, 70, *score, 1e-9, "scaled to the activity's 100-point column")
	require.Equal(t, t0.Unix(), ts.Unix())

	// Moodle refuses a timestamp in the same second: a conflict, not a
	// failure.
	err := ags.PostScore(ctx, f.reg, item, advantage.Score{UserID: agsStudent.ID, Given: ptr(9), Maximum: 10,
		Timestamp: t0.Add(900 * time.Millisecond)})
	require.True(t, advantage.IsConflict(err), "%v", err)
	require.False(t, advantage.IsPermanent(err))
	score, _, _ = f.platform.Grade(item, agsStudent.ID)
	require.InDelta(t, 70, *score, 1e-9)

	// Clearing sends no score and clears the grade.
	require.NoError(t, ags.PostScore(ctx, f.reg, item, advantage.Score{UserID: agsStudent.ID, Maximum: 10,
		Timestamp: t0.Add(time.Second)}))
	score, _, ok = f.platform.Grade(item, agsStudent.ID)
	require.True(t, ok)
	require.Nil(t, score)

	// A teacher is not gradable in Moodle: 400, permanent.
	err = ags.PostScore(ctx, f.reg, item, advantage.Score{UserID: agsTeacher.ID, Given: ptr(1), Maximum: 1,
		Timestamp: t0})
	require.True(t, advantage.IsPermanent(err), "%v", err)
	require.Contains(t, err.Error(), "Incorrect score received")

	require.Equal(t, 1, f.platform.TokenRequests(), "one token serves every score")
}

// An Apache that drops the Authorization header makes every service call
// a 401: the client fetches one fresh token, then reports the problem
// without fetching more, however many scores follow.
func TestPostScoreUnauthorizedWithoutTokenLoop(t *testing.T) {
	f := newFixture(t)
	item := f.lineItem(t)
	ags := &advantage.AGS{Tokens: f.tokens}
	ctx := context.Background()
	f.platform.SetDropAuthorizationHeader(true)
	for i := range 20 {
		err := ags.PostScore(ctx, f.reg, item, advantage.Score{UserID: agsStudent.ID, Given: ptr(1), Maximum: 1,
			Timestamp: time.Now().Add(time.Duration(i) * time.Second)})
		require.True(t, advantage.IsPermanent(err), "%v", err)
		require.Contains(t, err.Error(), "Authorization header")
	}
	require.Equal(t, 2, f.platform.TokenRequests(), "the first token and one fresh one, no more")

	// Once the web server passes the header again, the same token works.
	f.platform.SetDropAuthorizationHeader(false)
	require.NoError(t, ags.PostScore(ctx, f.reg, item, advantage.Score{UserID: agsStudent.ID, Given: ptr(1),
		Maximum: 1, Timestamp: time.Now().Add(time.Minute)}))
	require.Equal(t, 2, f.platform.TokenRequests())
}

// A caller that meets the fresh replacement token for the first time (it
// started while another caller renewed) does not renew it again: the
// platform that refused one fresh token refuses every token.
func TestRefusedReplacementIsNotRenewed(t *testing.T) {
	f := newFixture(t)
	item := f.lineItem(t)
	ctx := context.Background()
	score := func(ags *advantage.AGS, i int) error {
		return ags.PostScore(ctx, f.reg, item, advantage.Score{UserID: agsStudent.ID, Given: ptr(1), Maximum: 1,
			Timestamp: time.Now().Add(time.Duration(i) * time.Second)})
	}
	require.NoError(t, score(&advantage.AGS{Tokens: f.tokens}, 0))
	require.Equal(t, 1, f.platform.TokenRequests())
	f.platform.SetDropAuthorizationHeader(true)
	require.True(t, advantage.IsPermanent(score(&advantage.AGS{Tokens: f.tokens}, 1)))
	require.Equal(t, 2, f.platform.TokenRequests(), "the refused token is renewed once")
	for i := range 5 {
		// Each client stands for a caller that has not seen a refusal.
		require.True(t, advantage.IsPermanent(score(&advantage.AGS{Tokens: f.tokens}, 2+i)))
	}
	require.Equal(t, 2, f.platform.TokenRequests(), "the refused replacement is not renewed")
}

// A token the platform forgot (it restarted without keeping tokens) is
// replaced once, transparently.
func TestPostScoreRenewsAStaleToken(t *testing.T) {
	f := newFixture(t)
	item := f.lineItem(t)
	ags := &advantage.AGS{Tokens: f.tokens}
	ctx := context.Background()
	require.NoError(t, ags.PostScore(ctx, f.reg, item, advantage.Score{UserID: agsStudent.ID, Given: ptr(1),
		Maximum: 1, Timestamp: time.Now()}))
	f.platform.ForgetTokens()
	require.NoError(t, ags.PostScore(ctx, f.reg, item, advantage.Score{UserID: agsStudent.ID, Given: ptr(0.5),
		Maximum: 1, Timestamp: time.Now().Add(time.Minute)}))
	require.Equal(t, 2, f.platform.TokenRequests())
}

func TestPostScoreWhileDown(t *testing.T) {
	f := newFixture(t)
	item := f.lineItem(t)
	ags := &advantage.AGS{Tokens: f.tokens}
	f.platform.SetDown(true)
	err := ags.PostScore(context.Background(), f.reg, item, advantage.Score{UserID: agsStudent.ID, Given: ptr(1),
		Maximum: 1, Timestamp: time.Now()})
	require.Error(t, err)
	require.False(t, advantage.IsPermanent(err))
}

func TestCreateAndFindLineItem(t *testing.T) {
	f := newFixture(t)
	f.lineItem(t)
	ags := &advantage.AGS{Tokens: f.tokens}
	ctx := context.Background()
	container := f.platform.Issuer() + "/mod/lti/services.php/2/lineitems?type_id=1"

	found, err := ags.LineItems(ctx, f.reg, container, url.Values{"resource_id": {"labhub:1"}})
	require.NoError(t, err)
	require.Empty(t, found)

	li, err := ags.CreateLineItem(ctx, f.reg, container, advantage.LineItem{Label: "Lab 1 (Labhub)", ScoreMaximum: 20,
		ResourceID: "labhub:1", Tag: "labhub", ResourceLinkID: "1"})
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(li.ID, "/lineitem?type_id=1"), li.ID)
	require.Equal(t, 20.0, li.ScoreMaximum)

	found, err = ags.LineItems(ctx, f.reg, container, url.Values{"resource_id": {"labhub:1"}})
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Equal(t, li.ID, found[0].ID)

	require.NoError(t, ags.PostScore(ctx, f.reg, li.ID, advantage.Score{UserID: agsStudent.ID, Given: ptr(15),
		Maximum: 20, Timestamp: time.Now()}))
	score, _, ok := f.platform.Grade(li.ID, agsStudent.ID)
	require.True(t, ok)
	require.InDelta(t, 15, *score, 1e-9)

	_, err = ags.CreateLineItem(ctx, f.reg, strings.Replace(container, "/2/", "/99/", 1),
		advantage.LineItem{Label: "x", ScoreMaximum: 20})
	require.True(t, advantage.IsPermanent(err), "a course the LMS does not have: %v", err)
	require.Contains(t, err.Error(), "HTTP 404")
}
