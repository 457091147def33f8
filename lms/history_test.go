package lms

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// The grade history records every change the gradebook accepted, from AGS
// and from LTI 1.1 outcomes alike, and nothing it refused.
func TestGradeHistory(t *testing.T) {
	t.Parallel()
	s := newAGSSetup(t, Options{})
	item := s.newLineItem(t)
	require.Empty(t, s.p.GradeHistory(item, student.ID))

	require.Equal(t, 200, s.postScore(t, item, scoreJSON(student.ID, "2026-03-01T10:00:00Z", 5, 10, "FullyGraded")))
	require.Equal(t, 409, s.postScore(t, item, scoreJSON(student.ID, "2026-03-01T10:00:00Z", 5, 10, "FullyGraded")))
	require.Equal(t, 400, s.postScore(t, item, scoreJSON(teacher.ID, "2026-03-01T10:00:00Z", 5, 10, "FullyGraded")))
	require.Equal(t, 200, s.postScore(t, item, scoreJSON(student.ID, "2026-03-01T10:00:01Z", nil, 10, "NotReady")))
	h := s.p.GradeHistory(item, student.ID)
	require.Len(t, h, 2)
	require.InDelta(t, 50, *h[0].Score, 1e-9)
	require.Equal(t, int64(1772359200), h[0].Timestamp.Unix())
	require.Nil(t, h[1].Score, "a score that is not FullyGraded clears the grade")
	require.Empty(t, s.p.GradeHistory(item, teacher.ID))
	require.Nil(t, s.p.GradeHistory("not a line item", student.ID))

	// Outcomes land in the same history and are counted.
	p, _ := newTestPlatform(t, Options{})
	p.AddTool(Tool{ClientID: "c", DeploymentID: "2", ConsumerKey: "key", SharedSecret: "secret",
		LTI11LaunchURL: "http://127.0.0.1:9/lti11"})
	l := Link{ID: "2", Title: "Graded", LineItem: true}
	_, form, err := p.SignLTI11(student, course, l, "key")
	require.NoError(t, err)
	sourcedID := form.Get("lis_result_sourcedid")
	for _, score := range []string{"0.5", "0.5", "2"} {
		sendOutcome(t, p, outcomeCall{key: "key", secret: "secret",
			body: poxBody("replaceResultRequest", "m", sourcedID, score)})
	}
	require.Equal(t, 3, p.OutcomeRequests())
	h = p.GradeHistory(p.LineItemURL(course, l, "key"), student.ID)
	require.Len(t, h, 2, "Moodle keeps no nonces: the same replace is taken twice; the refused one is not")
	require.InDelta(t, 50, *h[1].Score, 1e-9)
}

// ForgetTokens makes services refuse the tokens issued before.
func TestForgetTokens(t *testing.T) {
	t.Parallel()
	s := newAGSSetup(t, Options{})
	item := s.newLineItem(t)
	s.p.ForgetTokens()
	status, _, _ := s.request(t, http.MethodGet, item, s.token, "", "")
	require.Equal(t, 401, status)
}
