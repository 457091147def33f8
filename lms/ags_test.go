package lms

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// agsSetup is a platform with a tool, an enrolled student and teacher, and
// an access token with every scope.
type agsSetup struct {
	p     *Platform
	tool  *fakeTool
	token string
	links atomic.Int64
}

func newAGSSetup(t *testing.T, opts Options) *agsSetup {
	t.Helper()
	p, _ := newTestPlatform(t, opts)
	tool := newFakeTool(t)
	reg := tool.registration("client-1")
	reg.DeploymentID = "1"
	p.AddTool(reg)
	p.AddMember(course, student, nil)
	p.AddMember(course, teacher, nil)
	s := &agsSetup{p: p, tool: tool}
	s.token = tool.accessToken(t, p, "client-1", permittedScopes...)
	return s
}

// newLineItem returns the line item URL of a fresh graded activity.
func (s *agsSetup) newLineItem(t *testing.T) string {
	t.Helper()
	n := s.links.Add(1)
	u := s.p.LineItemURL(course, Link{ID: fmt.Sprint(100 + n), Title: "Activity", LineItem: true}, "client-1")
	require.NotEmpty(t, u)
	return u
}

// withPath inserts a path segment before the query of a service URL.
func withPath(serviceURL, seg string) string {
	base, query, _ := strings.Cut(serviceURL, "?")
	return base + seg + "?" + query
}

func (s *agsSetup) request(t *testing.T, method, u, token, contentType, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, nil, req)
}

func (s *agsSetup) postScore(t *testing.T, lineItem, body string) int {
	t.Helper()
	status, _, _ := s.request(t, http.MethodPost, withPath(lineItem, "/scores"), s.token, mtScore, body)
	return status
}

func scoreJSON(userID, ts string, given, max any, progress string) string {
	m := map[string]any{"userId": userID, "timestamp": ts, "gradingProgress": progress, "activityProgress": "Completed"}
	if given != nil {
		m["scoreGiven"] = given
	}
	if max != nil {
		m["scoreMaximum"] = max
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestScoreValidation(t *testing.T) {
	t.Parallel()
	s := newAGSSetup(t, Options{})
	other := newFakeTool(t)
	p := s.p
	p.AddTool(other.registration("client-2"))
	otherItem := p.LineItemURL(course, Link{ID: "900", LineItem: true}, "client-2")
	otherToken := other.accessToken(t, p, "client-2", ScopeScore)
	readOnly := s.tool.accessToken(t, p, "client-1", ScopeLineItemReadOnly)
	p.AddMember(Course{ID: "77", Title: "Elsewhere"}, User{ID: "55", Username: "elsewhere"}, nil)

	const ts = "2026-03-01T10:00:00Z"
	valid := scoreJSON(student.ID, ts, 7, 10, "FullyGraded")
	type req struct {
		method, token, contentType, body string
		url                              func(item string) string
	}
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name      string
		req       req
		want      int
		wantScore *float64 // checked when want is 200
	}{
		{name: "valid", want: 200, wantScore: f(70)},
		{name: "numeric strings", req: req{body: scoreJSON(student.ID, ts, "7", "10", "FullyGraded")}, want: 200, wantScore: f(70)},
		{name: "numeric user id", req: req{body: `{"userId":4,"timestamp":"` + ts +
			`","scoreGiven":1,"scoreMaximum":1,"gradingProgress":"FullyGraded","activityProgress":"Completed"}`},
			want: 200, wantScore: f(100)},
		{name: "score above maximum is bounded", req: req{body: scoreJSON(student.ID, ts, 12, 10, "FullyGraded")}, want: 200, wantScore: f(100)},
		{name: "negative score is bounded", req: req{body: scoreJSON(student.ID, ts, -3, 10, "FullyGraded")}, want: 200, wantScore: f(0)},
		{name: "maximum equal to the column's", req: req{body: scoreJSON(student.ID, ts, 42.5, 100, "FullyGraded")}, want: 200, wantScore: f(42.5)},
		{name: "not fully graded drops the score", req: req{body: scoreJSON(student.ID, ts, 7, 10, "Pending")}, want: 200},
		{name: "no score at all", req: req{body: scoreJSON(student.ID, ts, nil, nil, "NotReady")}, want: 200},
		{name: "date only", req: req{body: scoreJSON(student.ID, "2026-03-01", 1, 1, "FullyGraded")}, want: 200, wantScore: f(100)},
		{name: "offset and fraction", req: req{body: scoreJSON(student.ID, "2026-03-01T10:00:00.123456+02:00", 1, 2, "FullyGraded")},
			want: 200, wantScore: f(50)},
		{name: "charset parameter", req: req{contentType: mtScore + "; charset=utf-8"}, want: 200, wantScore: f(70)},

		{name: "missing userId", req: req{body: `{"timestamp":"` + ts + `","gradingProgress":"FullyGraded","activityProgress":"Completed"}`}, want: 400},
		{name: "null userId", req: req{body: `{"userId":null,"timestamp":"` + ts + `","gradingProgress":"FullyGraded","activityProgress":"Completed"}`}, want: 400},
		{name: "missing timestamp", req: req{body: `{"userId":"4","gradingProgress":"FullyGraded","activityProgress":"Completed"}`}, want: 400},
		{name: "missing gradingProgress", req: req{body: `{"userId":"4","timestamp":"` + ts + `","activityProgress":"Completed"}`}, want: 400},
		{name: "missing activityProgress", req: req{body: `{"userId":"4","timestamp":"` + ts + `","gradingProgress":"FullyGraded"}`}, want: 400},
		{name: "timestamp in words", req: req{body: scoreJSON(student.ID, "yesterday", 1, 1, "FullyGraded")}, want: 400},
		{name: "month 13", req: req{body: scoreJSON(student.ID, "2026-13-01T00:00:00Z", 1, 1, "FullyGraded")}, want: 400},
		{name: "hour 25", req: req{body: scoreJSON(student.ID, "2026-01-01T25:00:00Z", 1, 1, "FullyGraded")}, want: 400},
		{name: "unix time", req: req{body: `{"userId":"4","timestamp":1796301066,"gradingProgress":"FullyGraded","activityProgress":"Completed"}`}, want: 400},
		{name: "RFC 1123 date", req: req{body: scoreJSON(student.ID, "Sun, 01 Mar 2026 10:00:00 GMT", 1, 1, "FullyGraded")}, want: 400},
		{name: "scoreGiven without scoreMaximum", req: req{body: scoreJSON(student.ID, ts, 7, nil, "FullyGraded")}, want: 400},
		{name: "scoreGiven not numeric", req: req{body: scoreJSON(student.ID, ts, "seven", 10, "FullyGraded")}, want: 400},
		{name: "scoreGiven boolean", req: req{body: scoreJSON(student.ID, ts, true, 10, "FullyGraded")}, want: 400},
		{name: "scoreGiven NaN", req: req{body: scoreJSON(student.ID, ts, "NaN", 10, "FullyGraded")}, want: 400},
		{name: "scoreMaximum not numeric", req: req{body: scoreJSON(student.ID, ts, 7, "ten", "FullyGraded")}, want: 400},
		{name: "instructor is not gradable", req: req{body: scoreJSON(teacher.ID, ts, 7, 10, "FullyGraded")}, want: 400},
		{name: "unknown user", req: req{body: scoreJSON("999", ts, 7, 10, "FullyGraded")}, want: 400},
		{name: "user of another course", req: req{body: scoreJSON("55", ts, 7, 10, "FullyGraded")}, want: 400},
		{name: "not json", req: req{body: "userId=4"}, want: 400},
		{name: "json array", req: req{body: "[" + valid + "]"}, want: 400},
		{name: "two objects", req: req{body: valid + valid}, want: 400},
		{name: "json content type", req: req{contentType: "application/json"}, want: 400},
		{name: "score container content type", req: req{contentType: mtScoreContainer}, want: 400},

		{name: "no type_id", req: req{url: func(i string) string { return strings.Split(withPath(i, "/scores"), "?")[0] }}, want: 403},
		{name: "duplicate type_id, the last counts as in PHP", req: req{url: func(i string) string {
			return withPath(i, "/scores") + "&type_id=2"
		}}, want: 401},
		{name: "wrong type_id", req: req{url: func(i string) string { return strings.Replace(withPath(i, "/scores"), "type_id=1", "type_id=2", 1) }}, want: 401},
		{name: "no token", req: req{token: "-"}, want: 401},
		{name: "token without score scope", req: req{token: readOnly}, want: 401},
		{name: "token of another tool", req: req{token: otherToken}, want: 401},
		{name: "GET", req: req{method: http.MethodGet}, want: 405},
		{name: "unknown line item", req: req{url: func(i string) string {
			return strings.Replace(withPath(i, "/scores"), "/lineitems/", "/lineitems/9", 1)
		}}, want: 404},
		{name: "unknown course", req: req{url: func(i string) string {
			return strings.Replace(withPath(i, "/scores"), "/services.php/2/", "/services.php/3/", 1)
		}}, want: 404},
		{name: "line item of another tool", req: req{url: func(string) string {
			return strings.Replace(withPath(otherItem, "/scores"), "type_id=2", "type_id=1", 1)
		}}, want: 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			item := s.newLineItem(t)
			r := tc.req
			if r.method == "" {
				r.method = http.MethodPost
			}
			switch r.token {
			case "":
				r.token = s.token
			case "-":
				r.token = ""
			}
			if r.contentType == "" {
				r.contentType = mtScore
			}
			if r.body == "" {
				r.body = valid
			}
			u := withPath(item, "/scores")
			if r.url != nil {
				u = r.url(item)
			}
			status, _, body := s.request(t, r.method, u, r.token, r.contentType, r.body)
			require.Equal(t, tc.want, status, body)
			score, _, ok := p.Grade(item, student.ID)
			if tc.want != 200 {
				require.False(t, ok, "a refused score must not be stored")
				return
			}
			require.True(t, ok)
			if tc.wantScore == nil {
				require.Nil(t, score)
				return
			}
			require.NotNil(t, score)
			require.InDelta(t, *tc.wantScore, *score, 1e-9)
		})
	}
}

// Moodle refuses a score whose timestamp is not strictly newer, to the
// second, than the stored one.
func TestScoreTimestampOrdering(t *testing.T) {
	t.Parallel()
	s := newAGSSetup(t, Options{})
	item := s.newLineItem(t)
	before := s.p.ScoreRequests()
	for i, step := range []struct {
		ts        string
		want      int
		wantScore float64
	}{
		{"2026-03-01T10:00:00Z", 200, 10},
		{"2026-03-01T10:00:00.900Z", 409, 10},  // same second
		{"2026-03-01T11:00:00+01:00", 409, 10}, // same instant
		{"2026-03-01T09:59:59Z", 409, 10},      // earlier
		{"2026-03-01T10:00:01Z", 200, 20},      // one second later
		{"2026-03-01 10:00:02", 200, 30},       // space separator, no zone
		{"2026-03-01T10:00:02.5Z", 409, 30},    // fraction of the same second
		{"2026-03-01T12:00:03+02:00", 200, 40}, // later, in another zone
		{"2026-03-01T09:30:04-00:30", 200, 50}, // later only once the offset is applied
		{"2026-03-01T10:30:04+00:30", 409, 50}, // same instant as the previous one
		{"2026-03-01T09:30:05-0030", 200, 60},  // offset without colon
		{"2026-03-01T10:00:05-00", 409, 60},    // hour-only offset, same instant
		{"2026-03-01T10:00:06-00", 200, 70},    // one second later
		{"2026-03-01T10:00:07+24:00", 400, 70}, // impossible offset
		{"2026-03-01T10:00:07.Z", 400, 70},     // empty fraction
		{"2026-03-01T10:00:07Z ", 400, 70},     // trailing space
		{"2026-03-01T10:00:08z", 200, 80},      // lower-case zone
		{"+2026-03-01T10:00:09Z", 200, 90},     // signed year
		{"2026-03-01T10:00:10,5Z", 200, 100},   // comma fraction
		{"2026-03-01T10:00Z", 409, 100},        // minutes only: earlier
		{"2026-03-01T10:01Z", 200, 110},        // minutes only: later
		{"2026-03-01T10:01:00.000001Z", 409, 110},
	} {
		given := step.wantScore
		if step.want != 200 {
			given = 999
		}
		status := s.postScore(t, item, scoreJSON(student.ID, step.ts, given, 1000, "FullyGraded"))
		require.Equal(t, step.want, status, "step %d: %s", i, step.ts)
		score, ts, ok := s.p.Grade(item, student.ID)
		require.True(t, ok)
		require.InDelta(t, step.wantScore/10, *score, 1e-9, "step %d", i)
		if step.want == 200 {
			want, ok := parseISOTimestamp(step.ts)
			require.True(t, ok)
			require.Equal(t, want.Unix(), ts.Unix())
		}
	}
	require.Equal(t, 22, s.p.ScoreRequests()-before)
}

// A cleared grade keeps its timestamp, so an older score cannot overwrite
// the clearing.
func TestScoreClearedKeepsTimestamp(t *testing.T) {
	t.Parallel()
	s := newAGSSetup(t, Options{})
	item := s.newLineItem(t)
	require.Equal(t, 200, s.postScore(t, item, scoreJSON(student.ID, "2026-03-01T10:00:00Z", 5, 10, "FullyGraded")))
	require.Equal(t, 200, s.postScore(t, item, scoreJSON(student.ID, "2026-03-01T10:00:05Z", 6, 10, "PendingManual")))
	score, ts, ok := s.p.Grade(item, student.ID)
	require.True(t, ok)
	require.Nil(t, score)
	require.Equal(t, time.Date(2026, 3, 1, 10, 0, 5, 0, time.UTC).Unix(), ts.Unix())
	require.Equal(t, 409, s.postScore(t, item, scoreJSON(student.ID, "2026-03-01T10:00:04Z", 5, 10, "FullyGraded")))
}

// An Apache that drops the Authorization header turns every service call
// into a 401; a platform that is down answers 503 everywhere.
func TestDropAuthorizationHeaderAndDown(t *testing.T) {
	t.Parallel()
	s := newAGSSetup(t, Options{})
	item := s.newLineItem(t)
	body := scoreJSON(student.ID, "2026-03-01T10:00:00Z", 1, 1, "FullyGraded")

	s.p.SetDropAuthorizationHeader(true)
	require.Equal(t, 401, s.postScore(t, item, body))
	status, _, _ := s.request(t, http.MethodGet, item, s.token, "", "")
	require.Equal(t, 401, status)
	s.p.SetDropAuthorizationHeader(false)

	s.p.SetDown(true)
	require.Equal(t, 503, s.postScore(t, item, body))
	for _, path := range []string{"/mod/lti/certs.php", "/mod/lti/token.php", "/mod/lti/auth.php", "/"} {
		status, _, _ := s.request(t, http.MethodGet, s.p.Issuer()+path, "", "", "")
		require.Equal(t, 503, status, path)
	}
	s.p.SetDown(false)
	require.Equal(t, 200, s.postScore(t, item, body))

	down, _ := newTestPlatform(t, Options{Down: true, DropAuthorizationHeader: true})
	status, _, _ = s.request(t, http.MethodGet, down.Issuer()+"/mod/lti/certs.php", "", "", "")
	require.Equal(t, 503, status)
	down.SetDown(false)
	status, _, _ = s.request(t, http.MethodGet, down.Issuer()+"/mod/lti/certs.php", "", "", "")
	require.Equal(t, 200, status)
}

func TestLineItems(t *testing.T) {
	t.Parallel()
	s := newAGSSetup(t, Options{})
	p := s.p
	coupled := p.LineItemURL(course, link, "client-1")
	lineItems := p.Issuer() + "/mod/lti/services.php/2/lineitems?type_id=1"
	readOnly := s.tool.accessToken(t, p, "client-1", ScopeLineItemReadOnly)

	list := func(t *testing.T, query string, hdr ...string) []map[string]any {
		t.Helper()
		status, h, body := s.request(t, http.MethodGet, lineItems+query, readOnly, "", "", hdr...)
		require.Equal(t, 200, status, body)
		require.Equal(t, mtLineItemContainer, h.Get("Content-Type"))
		var items []map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &items))
		return items
	}

	// The activity's own column is listed with Moodle's fields.
	items := list(t, "")
	require.Equal(t, []map[string]any{{
		"id": coupled, "label": link.Title, "scoreMaximum": 100.0,
		"resourceId": "", "tag": "", "resourceLinkId": "1", "ltiLinkId": "1",
	}}, items)

	// Create a standalone column; Moodle echoes the posted JSON with the id.
	status, h, body := s.request(t, http.MethodPost, lineItems, s.token, mtLineItem,
		`{"label":"Quiz 1","scoreMaximum":10,"tag":"quiz","resourceId":"r1","extra":{"kept":true}}`)
	require.Equal(t, 201, status, body)
	require.Equal(t, mtLineItem, h.Get("Content-Type"))
	var created map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	require.Equal(t, map[string]any{"kept": true}, created["extra"])
	quiz := created["id"].(string)
	require.Regexp(t, `^`+p.Issuer()+`/mod/lti/services.php/2/lineitems/\d+/lineitem\?type_id=1$`, quiz)

	status, _, body = s.request(t, http.MethodGet, quiz, readOnly, "", "")
	require.Equal(t, 200, status)
	require.JSONEq(t, `{"id":"`+quiz+`","label":"Quiz 1","scoreMaximum":10,"resourceId":"r1","tag":"quiz"}`, body)

	require.Len(t, list(t, ""), 2)
	require.Equal(t, quiz, list(t, "&tag=quiz")[0]["id"])
	require.Len(t, list(t, "&tag=quiz"), 1)
	require.Len(t, list(t, "&resource_id=r1"), 1)
	require.Equal(t, coupled, list(t, "&resource_link_id=1")[0]["id"])
	require.Empty(t, list(t, "&resource_link_id=42"))
	require.Len(t, list(t, "", "Accept", mtLineItemContainer), 2)

	// Paging: Moodle's Link header uses typographic quotes around rel.
	status, h, body = s.request(t, http.MethodGet, lineItems+"&limit=1", readOnly, "", "")
	require.Equal(t, 200, status)
	require.Contains(t, h.Get("Link"), `from=1&limit=1&type_id=1>; rel=“next”`)
	require.NotContains(t, h.Get("Link"), `rel="next"`)
	var page []map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &page))
	require.Len(t, page, 1)
	_, h, _ = s.request(t, http.MethodGet, lineItems+"&limit=1&from=1", readOnly, "", "")
	require.NotContains(t, h.Get("Link"), "next")
	require.Contains(t, h.Get("Link"), "rel=“prev”")

	// Grades follow a change of the maximum, keeping their percentage.
	require.Equal(t, 200, s.postScore(t, quiz, scoreJSON(student.ID, "2026-03-01T10:00:00Z", 5, 10, "FullyGraded")))
	status, _, body = s.request(t, http.MethodPut, quiz, s.token, mtLineItem, `{"label":"Quiz one","scoreMaximum":20}`)
	require.Equal(t, 200, status, body)
	score, _, _ := p.Grade(quiz, student.ID)
	require.InDelta(t, 10, *score, 1e-9)

	// Refusals.
	for _, tc := range []struct {
		name, method, u, token, ct, body string
		hdr                              []string
		want                             int
	}{
		{"create without label", "POST", lineItems, s.token, mtLineItem, `{"scoreMaximum":10}`, nil, 400},
		{"create with null label", "POST", lineItems, s.token, mtLineItem, `{"label":null,"scoreMaximum":10}`, nil, 400},
		{"create with word maximum", "POST", lineItems, s.token, mtLineItem, `{"label":"x","scoreMaximum":"ten"}`, nil, 400},
		{"create as container", "POST", lineItems, s.token, mtLineItemContainer, `{"label":"x","scoreMaximum":1}`, nil, 400},
		{"create as json", "POST", lineItems, s.token, "application/json", `{"label":"x","scoreMaximum":1}`, nil, 400},
		{"create for unknown activity", "POST", lineItems, s.token, mtLineItem, `{"label":"x","scoreMaximum":1,"resourceLinkId":"42"}`, nil, 403},
		{"create read-only", "POST", lineItems, readOnly, mtLineItem, `{"label":"x","scoreMaximum":1}`, nil, 401},
		{"list with generic accept", "GET", lineItems, readOnly, "", "", []string{"Accept", "application/json"}, 400},
		{"list with two accepted types", "GET", lineItems, readOnly, "", "", []string{"Accept", mtLineItemContainer + ", application/json"}, 400},
		{"list without type_id", "GET", strings.Split(lineItems, "?")[0], readOnly, "", "", nil, 401},
		{"list of unknown course", "GET", strings.Replace(lineItems, "/2/", "/3/", 1), readOnly, "", "", nil, 404},
		{"list without token", "GET", lineItems, "", "", "", nil, 401},
		{"put read-only", "PUT", quiz, readOnly, mtLineItem, `{"label":"x","scoreMaximum":1}`, nil, 401},
		{"put without maximum", "PUT", quiz, s.token, mtLineItem, `{"label":"x"}`, nil, 400},
		{"put with word link id", "PUT", quiz, s.token, mtLineItem, `{"label":"x","scoreMaximum":1,"resourceLinkId":"one"}`, nil, 400},
		{"delete the activity's column", "DELETE", coupled, s.token, "", "", nil, 403},
		{"get unknown item", "GET", strings.Replace(quiz, "/lineitems/", "/lineitems/9", 1), readOnly, "", "", nil, 404},
		{"patch", "PATCH", quiz, s.token, mtLineItem, `{}`, nil, 405},
	} {
		status, _, body := s.request(t, tc.method, tc.u, tc.token, tc.ct, tc.body, tc.hdr...)
		require.Equal(t, tc.want, status, "%s: %s", tc.name, body)
	}

	status, _, _ = s.request(t, http.MethodDelete, quiz, s.token, "", "")
	require.Equal(t, 204, status)
	status, _, _ = s.request(t, http.MethodGet, quiz, readOnly, "", "")
	require.Equal(t, 404, status)
	require.Len(t, list(t, ""), 1)
}

func TestResults(t *testing.T) {
	t.Parallel()
	s := newAGSSetup(t, Options{})
	p := s.p
	second := User{ID: "8", Username: "student2", Roles: []string{RoleLearner}}
	p.AddMember(course, second, nil)
	item := s.newLineItem(t)
	results := withPath(item, "/results")
	reader := s.tool.accessToken(t, p, "client-1", ScopeResultReadOnly)

	get := func(t *testing.T, u string) []map[string]any {
		t.Helper()
		status, h, body := s.request(t, http.MethodGet, u, reader, "", "")
		require.Equal(t, 200, status, body)
		require.Equal(t, mtResultContainer, h.Get("Content-Type"))
		var out []map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &out))
		return out
	}
	require.Empty(t, get(t, results))

	require.Equal(t, 200, s.postScore(t, item, `{"userId":"4","timestamp":"2026-03-01T10:00:00Z","scoreGiven":7,`+
		`"scoreMaximum":10,"comment":"Good","gradingProgress":"FullyGraded","activityProgress":"Completed"}`))
	require.Equal(t, 200, s.postScore(t, item, scoreJSON(second.ID, "2026-03-01T10:00:00Z", 0, 10, "FullyGraded")))

	itemBase := strings.Split(item, "?")[0]
	all := get(t, results)
	require.Equal(t, []map[string]any{
		{
			"id": itemBase + "/results?type_id=1&user_id=4", "userId": "4",
			"resultScore": 70.0, "resultMaximum": 10.0, "comment": "Good",
			"scoreOf": item, "timestamp": "2026-03-01T10:00:00Z",
		},
		// Moodle reports a zero grade like a missing one.
		{"id": itemBase + "/results?type_id=1&user_id=8", "userId": "8"},
	}, all)
	require.Len(t, get(t, results+"&user_id=8"), 1)
	require.Equal(t, "8", get(t, results+"&user_id=8")[0]["userId"])

	status, h, _ := s.request(t, http.MethodGet, results+"&limit=1", reader, "", "")
	require.Equal(t, 200, status)
	require.Contains(t, h.Get("Link"), "rel=“next”")

	for _, tc := range []struct {
		name, u, token string
		hdr            []string
		want           int
	}{
		{"no token", results, "", nil, 403},
		{"score-only token", results, s.tool.accessToken(t, p, "client-1", ScopeScore), nil, 403},
		{"no type_id", strings.Split(results, "?")[0], reader, nil, 403},
		{"wrong accept", results, reader, []string{"Accept", "application/json"}, 400},
	} {
		status, _, body := s.request(t, http.MethodGet, tc.u, tc.token, "", "", tc.hdr...)
		require.Equal(t, tc.want, status, "%s: %s", tc.name, body)
	}
}

func TestGradeLookup(t *testing.T) {
	t.Parallel()
	s := newAGSSetup(t, Options{})
	item := s.newLineItem(t)
	require.Equal(t, 200, s.postScore(t, item, scoreJSON(student.ID, "2026-03-01T10:00:00Z", 1, 2, "FullyGraded")))
	id, err := lineItemIDOf(item)
	require.NoError(t, err)
	for _, ref := range []string{item, strings.Split(item, "?")[0], fmt.Sprint(id), withPath(item, "/scores")} {
		score, ts, ok := s.p.Grade(ref, student.ID)
		require.True(t, ok, ref)
		require.InDelta(t, 50, *score, 1e-9)
		require.Equal(t, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), ts.UTC())
	}
	for _, ref := range []string{"", "abc", "http://x/lineitems/x/lineitem", "99999"} {
		_, _, ok := s.p.Grade(ref, student.ID)
		require.False(t, ok, ref)
	}
	_, _, ok := s.p.Grade(item, "999")
	require.False(t, ok)
}
