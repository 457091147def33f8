package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lms"
)

// A student hands in from a notebook with the server's own token; the
// instructor finds the hand-in read-only in their server's handins/ folder
// and on the activity's page, grades it there, and the grade reaches the
// LMS gradebook.
func TestHandinAndGradeEndToEnd(t *testing.T) {
	e := newEnv(t)
	e.hub.Start()
	// Names of its own, so that its containers and volumes never meet those
	// of other tests on the same engine.
	id := strconv.Itoa(os.Getpid() % 100000)
	crs := lms.Course{ID: "9", Label: "H" + id, Title: "Hand-in course"}
	slug := "h" + id
	stud := lms.User{ID: "41", Username: "hs" + id, Roles: []string{lms.RoleLearner}}
	prof := lms.User{ID: "42", Username: "ht" + id, Roles: []string{lms.RoleInstructor}}

	alice := browser(t, e.platform)
	server := e.launchIn(t, alice, stud, crs, slug)
	out, errText := (&jupyter{t: t, client: alice.Client, base: server}).run(`
import json, os, urllib.request, urllib.error
api, tok = os.environ["LABHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"]
def call(method, path, body=None):
    req = urllib.request.Request(api + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "token " + tok, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
os.makedirs("/home/jovyan/lab1", exist_ok=True)
open("/home/jovyan/lab1/answer.txt", "w").write("forty-two")
c = os.environ["JUPYTERHUB_SERVER_NAME"]
acts = call("GET", "courses/%s/activities" % c)[1]["activities"]
aid = [a["id"] for a in acts if a["resource_link_id"] == "1"][0]
print(json.dumps([aid, call("POST", "courses/%s/activities/%d/handins" % (c, aid), {"paths": ["lab1"]}),
    call("POST", "courses/%s/activities/%d/handins" % (c, aid), {"paths": ["../etc"]}),
    call("GET", "courses/%s/activities/%d/grades" % (c, aid))]))
`)
	require.Empty(t, errText)
	var res []json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	var act uint
	require.NoError(t, json.Unmarshal(res[0], &act))
	var created []json.RawMessage
	require.NoError(t, json.Unmarshal(res[1], &created))
	require.Equal(t, "201", string(created[0]), out)
	require.Contains(t, string(created[1]), `"files": 1`)
	require.Contains(t, string(res[2]), "400", "paths outside the home folder are refused")
	require.Contains(t, string(res[3]), "403", "a server's token cannot read grades")

	// The instructor's server shows the hand-in, read-only, owned by root.
	teacher := browser(t, e.platform)
	teacherServer := e.launchIn(t, teacher, prof, crs, slug)
	out, errText = (&jupyter{t: t, client: teacher.Client, base: teacherServer}).run(`
import json, os
root = "/home/jovyan/handins"
found = []
for d, dirs, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        st = os.stat(p)
        found.append([os.path.relpath(p, root), open(p).read(), oct(st.st_mode & 0o777), st.st_uid])
def attempt(f):
    try:
        f()
        return "allowed"
    except OSError as e:
        return e.strerror
print(json.dumps({"found": found,
    "new": attempt(lambda: open(os.path.join(root, "x.txt"), "w")),
    "change": attempt(lambda: open(os.path.join(root, found[0][0]), "a"))}))
`)
	require.Empty(t, errText)
	var seen struct {
		Found       [][]any
		New, Change string
	}
	require.NoError(t, json.Unmarshal([]byte(out), &seen), out)
	require.Len(t, seen.Found, 1, out)
	require.Regexp(t, fmt.Sprintf(`^jupyter-lab-%d/%s/\d{8}T\d{6}Z-[0-9a-f]{8}/lab1/answer.txt$`, act, stud.Username), seen.Found[0][0])
	require.Equal(t, []any{"forty-two", "0o444", 0.0}, seen.Found[0][1:])
	require.Equal(t, "Read-only file system", seen.New)
	require.Contains(t, []string{"Permission denied", "Read-only file system"}, seen.Change,
		"a handed-in file cannot be changed")

	// The activity's page lists the hand-in and takes the grade.
	grades := fmt.Sprintf("%shub/courses/%s/activities/%d/grades", e.hub.URL, slug, act)
	status, page := get(t, teacher.Client, grades)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, `id="row-`+stud.Username+`"`)
	require.Contains(t, page, "/handins/")
	uid := regexp.MustCompile(`id="row-` + stud.Username + `">(?s:.*?)name="score_(\d+)"`).FindStringSubmatch(page)
	require.NotNil(t, uid)
	csrf := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindStringSubmatch(page)
	resp, err := teacher.Client.PostForm(grades, url.Values{"_csrf": {csrf[1]}, "score_" + uid[1]: {"7"},
		"maximum_" + uid[1]: {"10"}, "comment_" + uid[1]: {"See the hand-in notes."}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "the form redirects back to the page")

	item := e.platform.LineItemURL(crs, lab1, e.clientID)
	require.Eventually(t, func() bool {
		s, _, ok := e.platform.Grade(item, stud.ID)
		return ok && s != nil && *s == 70
	}, 30*time.Second, 100*time.Millisecond, "the grade reaches Moodle's 100-point column")
	require.Eventually(t, func() bool {
		_, page = get(t, teacher.Client, grades)
		return strings.Contains(page, `data-state="delivered"`)
	}, 10*time.Second, 100*time.Millisecond)
	require.Contains(t, page, "Sent to the LMS")
}

// launchIn launches u into c over LTI 1.3 and follows Labhub to the
// running notebook, whose URL it returns.
func (e *env) launchIn(t *testing.T, b *lms.Browser, u lms.User, c lms.Course, slug string) string {
	t.Helper()
	resp, err := b.LaunchLTI13(context.Background(), u, c, lab1, e.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	server := waitForServer(t, b.Client, e.hub.URL, u.Username, slug)
	resp, err = b.Client.Get(server)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "final URL %s", resp.Request.URL)
	return server
}

// Grade passback through the running hub without notebook servers: AGS
// for LTI 1.3 courses, Basic Outcomes for LTI 1.1 ones, a teacher the LMS
// will not grade, and an LMS whose web server drops the Authorization
// header.
func TestGradePassbackEndToEnd(t *testing.T) {
	e := newGradeEnv(t, nil, "--grade-retry-min", "200ms", "--grade-retry-max", "1s", "--grade-poll", "200ms")
	e.hub.Start()
	crs := lms.Course{ID: "8", Label: "PASS", Title: "Passback course"}
	teacher := lms.User{ID: "2", Username: "teacher1", Roles: []string{lms.RoleInstructor}}
	alice := lms.User{ID: "10", Username: "alice", Roles: []string{lms.RoleLearner}}
	bob := lms.User{ID: "11", Username: "bob", Roles: []string{lms.RoleLearner}}
	e.launchAll(t, crs, noServer, "1.3", []lms.User{teacher, alice})
	token := strings.TrimSpace(e.hub.CLI("token", "create", "teacher1", "--scope", "grades"))
	act := e.activityID(t, "pass", token, noServer.ID)
	path := fmt.Sprintf("api/courses/pass/activities/%d/grades", act)

	status, body := e.api(t, "POST", path, token,
		`{"grades":[{"user":"alice","score":4,"maximum":5,"comment":"ok"},{"user":"teacher1","score":1,"maximum":5}]}`)
	require.Equal(t, http.StatusOK, status, body)
	require.Eventually(t, func() bool {
		st := statesOf(e.grades(t, "pass", act, token))
		return st["delivered"] == 1 && st["failed"] == 1
	}, 30*time.Second, 100*time.Millisecond)
	item := e.platform.LineItemURL(crs, noServer, e.clientID)
	score, _, _ := e.platform.Grade(item, alice.ID)
	require.InDelta(t, 80, *score, 1e-9)
	for _, g := range e.grades(t, "pass", act, token) {
		if g.User == "teacher1" {
			require.Equal(t, "not_gradable", g.Code)
			require.Contains(t, g.Detail, "Moodle grades only students")
		}
	}
	list := e.hub.CLI("grade", "list", "pass", fmt.Sprint(act))
	require.Regexp(t, `alice\s+4\s+5\s+0\s+delivered`, list)
	require.Regexp(t, `teacher1\s+1\s+5\s+0\s+failed`, list)

	// Behind an Apache that drops the Authorization header every score is
	// refused; Labhub says why and does not keep asking for tokens.
	tokensBefore := e.platform.TokenRequests()
	e.platform.SetDropAuthorizationHeader(true)
	e.launchAll(t, crs, noServer, "1.3", []lms.User{bob})
	status, body = e.api(t, "POST", path, token, `{"grades":[{"user":"alice","score":5,"maximum":5},{"user":"bob","score":3,"maximum":5}]}`)
	require.Equal(t, http.StatusOK, status, body)
	require.Eventually(t, func() bool { return statesOf(e.grades(t, "pass", act, token))["failed"] == 3 },
		30*time.Second, 100*time.Millisecond)
	for _, g := range e.grades(t, "pass", act, token) {
		if g.User != "teacher1" {
			require.Equal(t, "unauthorized", g.Code)
			require.Contains(t, g.Detail, "Authorization header")
		}
	}
	time.Sleep(time.Second)
	require.LessOrEqual(t, e.platform.TokenRequests()-tokensBefore, 1, "one fresh token at most, no loop")
	e.platform.SetDropAuthorizationHeader(false)
	require.Contains(t, e.hub.CLI("grade", "retry", "pass", fmt.Sprint(act), "alice", "bob"), "2 grade(s) queued again")
	require.Eventually(t, func() bool { return statesOf(e.grades(t, "pass", act, token))["delivered"] == 2 },
		30*time.Second, 100*time.Millisecond)
	score, _, _ = e.platform.Grade(item, bob.ID)
	require.InDelta(t, 60, *score, 1e-9)

	// LTI 1.1: the launch's sourcedid, replaceResult with the fraction.
	e.launchAll(t, crs, noServer, "1.1", []lms.User{teacher, alice})
	token11 := strings.TrimSpace(e.hub.CLI("token", "create", "teacher1-2"))
	act11 := e.activityID(t, "pass-2", token11, noServer.ID)
	status, body = e.api(t, "POST", fmt.Sprintf("api/courses/pass-2/activities/%d/grades", act11), token11,
		`{"grades":[{"user":"alice-2","score":1,"maximum":4}]}`)
	require.Equal(t, http.StatusOK, status, body)
	require.Eventually(t, func() bool {
		s, _, ok := e.platform.Grade(item, alice.ID)
		return ok && s != nil && *s == 25
	}, 30*time.Second, 100*time.Millisecond)
	require.Equal(t, "delivered", e.grades(t, "pass-2", act11, token11)[0].Status)
}
