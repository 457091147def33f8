package web_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/grade"
	"github.com/labhub/labhub/handin"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
	"github.com/labhub/labhub/web"
)

// grading is a hub with the grading pages and API; with docker, hand-ins
// go to the real engine.
type grading struct {
	*harness
	grades *grade.Service
	docker *spawner.Docker
	image  string
	course lms.Course
	slug   string
	link   lms.Link
}

var (
	gStudent = lms.User{ID: "4", Username: "student1", GivenName: "Sam", FamilyName: "Student", Roles: []string{lms.RoleLearner}}
	gOther   = lms.User{ID: "5", Username: "student2", Roles: []string{lms.RoleLearner}}
	gTeacher = lms.User{ID: "3", Username: "teacher1", Roles: []string{lms.RoleInstructor}}
)

func newGrading(t *testing.T, docker bool) *grading {
	g := &grading{link: lms.Link{ID: "1", Title: "Lab 1", LineItem: true}}
	prefix := fmt.Sprintf("w%06x", rand.Uint32()&0xffffff)
	g.course = lms.Course{ID: "2", Label: "G" + prefix, Title: "Grading course"}
	g.slug = "g" + prefix
	var hs *handin.Service
	if docker {
		cli := testutil.Docker(t)
		g.image = testutil.Image(t)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "labhub.test="+prefix))})
			require.NoError(t, err)
			for _, v := range vs.Volumes {
				require.NoError(t, cli.VolumeRemove(ctx, v.Name, true))
			}
		})
		d, err := spawner.New(spawner.Options{Logger: slog.New(slog.DiscardHandler), CallTimeout: 30 * time.Second,
			Labels: map[string]string{"labhub.test": prefix}})
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		g.docker = d
	}
	g.harness = newHarness(t, func(h *harness, o *web.Options) {
		g.grades = grade.New(h.db, grade.Options{Now: h.Now, Logger: slog.New(slog.DiscardHandler)})
		files := handin.Files(nil)
		if g.docker != nil {
			files = g.docker
		}
		hs = handin.New(h.db, handin.Options{Files: files, Image: g.image, Instance: "test",
			VolumeOwner: "1000:100", Now: h.Now, Logger: slog.New(slog.DiscardHandler)})
		o.Grades, o.Handins = g.grades, hs
	})
	return g
}

// launch logs u in through an LTI 1.3 launch and returns their browser.
func (g *grading) launch(t *testing.T, u lms.User) *http.Client {
	c := g.client()
	b := &lms.Browser{Client: c, Platform: g.platform}
	resp, err := b.LaunchLTI13(context.Background(), u, g.course, g.link, g.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	g.settle()
	return c
}

func (g *grading) activity(t *testing.T) store.Activity {
	var a store.Activity
	require.NoError(t, g.db.Where("resource_link_id = ?", g.link.ID).First(&a).Error)
	return a
}

func (g *grading) userID(t *testing.T, name string) uint {
	var u store.User
	require.NoError(t, g.db.Where("name = ?", name).First(&u).Error)
	return u.ID
}

func (g *grading) path(t *testing.T, rest string) string {
	return fmt.Sprintf("/hub/courses/%s/activities/%d%s", g.slug, g.activity(t).ID, rest)
}

func page(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func postForm(t *testing.T, c *http.Client, u string, form url.Values) (int, string, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func TestGradingPageAccess(t *testing.T) {
	g := newGrading(t, false)
	teacher := g.launch(t, gTeacher)
	student := g.launch(t, gStudent)
	grades := g.hub.URL + g.path(t, "/grades")

	status, body := page(t, teacher, grades)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "Lab 1: grades")
	require.Contains(t, body, `id="row-student1"`)
	require.NotContains(t, body, `id="row-teacher1"`, "the roster holds learners")

	for name, u := range map[string]string{
		"student":                 grades,
		"student on hand-in list": g.hub.URL + g.path(t, "/handins"),
		"unknown activity":        g.hub.URL + "/hub/courses/" + g.slug + "/activities/999/grades",
	} {
		c := student
		if name == "unknown activity" {
			c = teacher
		}
		status, _ := page(t, c, u)
		require.Equal(t, http.StatusNotFound, status, name)
	}
	status, _ = page(t, g.client(), grades)
	require.Equal(t, http.StatusFound, status, "no session: to the login page")

	// The home page leads each to their page of the activity.
	_, home := page(t, teacher, g.hub.URL+"/hub/home")
	require.Contains(t, home, g.path(t, "/grades"))
	_, home = page(t, student, g.hub.URL+"/hub/home")
	require.Contains(t, home, g.path(t, "/handin"))
	require.NotContains(t, home, g.path(t, "/grades"))
}

func TestGradingForm(t *testing.T) {
	g := newGrading(t, false)
	teacher := g.launch(t, gTeacher)
	g.launch(t, gStudent)
	g.launch(t, gOther)
	grades := g.hub.URL + g.path(t, "/grades")
	_, body := page(t, teacher, grades)
	csrf := csrfOf(t, body)
	sid, oid := fmt.Sprint(g.userID(t, "student1")), fmt.Sprint(g.userID(t, "student2"))

	status, _, _ := postForm(t, teacher, grades, url.Values{"score_" + sid: {"7"}})
	require.Equal(t, http.StatusForbidden, status, "no CSRF token")

	status, _, body = postForm(t, teacher, grades, url.Values{"_csrf": {csrf}, "score_" + sid: {"7"}, "score_" + oid: {"seven"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, `The score of student2, &#34;seven&#34;, is not a number. Nothing was saved.`)
	status, _, body = postForm(t, teacher, grades, url.Values{"_csrf": {csrf}, "score_" + sid: {"70"}, "maximum_" + sid: {"10"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "A score must be between 0 and the maximum (10).")
	var n int64
	require.NoError(t, g.db.Model(&store.Grade{}).Count(&n).Error)
	require.Zero(t, n)

	status, loc, _ := postForm(t, teacher, grades, url.Values{"_csrf": {csrf}, "score_" + sid: {"7,5"}, "maximum_" + sid: {"10"},
		"comment_" + sid: {"Good <work>"}, "score_" + oid: {""}, "comment_" + oid: {""}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, g.path(t, "/grades?saved=1"), loc)
	var gr store.Grade
	require.NoError(t, g.db.Where("user_id = ?", g.userID(t, "student1")).First(&gr).Error)
	require.InDelta(t, 7.5, *gr.Score, 0)
	require.Equal(t, "Good <work>", gr.Comment)
	require.Equal(t, "teacher1", gr.GradedBy)
	require.Equal(t, "page", gr.Source)
	_, body = page(t, teacher, g.hub.URL+loc)
	require.Contains(t, body, "1 grade(s) changed")
	require.Contains(t, body, `value="7.5"`)
	require.Contains(t, body, "Good &lt;work&gt;")
	require.Contains(t, body, `data-state="queued"`)

	// A refusal shows with its reason and a retry.
	require.NoError(t, g.db.Model(&store.GradeDelivery{}).Where("grade_id = ?", gr.ID).Updates(map[string]any{
		"state": store.DeliveryFailed, "code": grade.CodeNotGradable, "last_error": "The LMS does not take a grade for this person.",
		"attempts": 1}).Error)
	_, body = page(t, teacher, grades)
	require.Contains(t, body, `data-state="failed"`)
	require.Contains(t, body, "The LMS does not take a grade for this person.")
	require.Contains(t, body, `aria-label="Retry student1"`)
	status, loc, _ = postForm(t, teacher, g.hub.URL+g.path(t, "/grades/retry"), url.Values{"_csrf": {csrf}, "user": {"student1"}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, g.path(t, "/grades?retried=1"), loc)
	var d store.GradeDelivery
	require.NoError(t, g.db.Where("grade_id = ?", gr.ID).First(&d).Error)
	require.Equal(t, store.DeliveryPending, d.State)
	require.Zero(t, d.Attempts)
}

func TestGradingCSVAndSettings(t *testing.T) {
	g := newGrading(t, false)
	teacher := g.launch(t, gTeacher)
	g.launch(t, gStudent)
	g.launch(t, gOther)
	_, body := page(t, teacher, g.hub.URL+g.path(t, "/grades"))
	csrf := csrfOf(t, body)

	upload := func(content string) (int, string, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		require.NoError(t, mw.WriteField("_csrf", csrf))
		fw, err := mw.CreateFormFile("file", "grades.csv")
		require.NoError(t, err)
		fw.Write([]byte(content))
		require.NoError(t, mw.Close())
		resp, err := teacher.Post(g.hub.URL+g.path(t, "/grades/import"), mw.FormDataContentType(), &buf)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(b)
	}
	status, _, body := upload("username,score\nstudent1,5\nnobody,3\nstudent2,x\n")
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "Nothing was imported: line 3: nobody is not in this course; line 4: score &#34;x&#34; is not a number.")
	status, loc, _ := upload("username,score,maximum,comment\nstudent1,5,20,ok\nstudent2,20,20,\n")
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, g.path(t, "/grades?imported=2"), loc)

	resp, err := teacher.Get(g.hub.URL + g.path(t, "/grades.csv"))
	require.NoError(t, err)
	csvBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Contains(t, resp.Header.Get("Content-Disposition"), "attachment")
	require.Contains(t, string(csvBody), "student1,Sam Student,,5,20,ok,,0,queued,")
	require.Contains(t, string(csvBody), "student2,,,20,20,,,0,queued,")

	settings := g.hub.URL + g.path(t, "/settings")
	status, _, body = postForm(t, teacher, settings, url.Values{"_csrf": {csrf}, "due": {""}, "lock": {"on"}, "maximum": {"20"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "Hand-ins can only close at a due date")
	status, loc, _ = postForm(t, teacher, settings, url.Values{"_csrf": {csrf}, "due": {"2026-03-01T23:59"}, "lock": {"on"},
		"maximum": {"20"}})
	require.Equal(t, http.StatusSeeOther, status)
	_, body = page(t, teacher, g.hub.URL+loc)
	require.Contains(t, body, "Settings saved.")
	require.Contains(t, body, `value="2026-03-01T23:59"`)
	require.Contains(t, body, "Due 2026-03-01 23:59 UTC")
	a, err := g.grades.Assignment(context.Background(), g.activity(t).ID)
	require.NoError(t, err)
	require.True(t, a.LockAtDue)
	require.Equal(t, 20.0, a.ScoreMaximum)
}

// apiToken issues a personal API token of user with scopes.
func (g *grading) apiToken(t *testing.T, user string, scopes ...string) string {
	tok, err := auth.New(g.db, nil, nil).IssueToken(context.Background(), nil, store.Token{Kind: store.TokenAPI,
		UserID: g.userID(t, user), Scopes: auth.EncodeScopes(scopes)})
	require.NoError(t, err)
	return tok
}

// serverTokenOf issues the token a user's server of the course gets.
func (g *grading) serverTokenOf(t *testing.T, user string) string {
	var srv store.Server
	require.NoError(t, g.db.Where("user_id = ?", g.userID(t, user)).First(&srv).Error)
	id := srv.ID
	tok, err := auth.New(g.db, nil, nil).IssueToken(context.Background(), nil, store.Token{Kind: store.TokenServer,
		UserID: srv.UserID, ServerID: &id, Scopes: auth.EncodeScopes([]string{"users:activity!user=" + user})})
	require.NoError(t, err)
	return tok
}

func TestGradesAPI(t *testing.T) {
	g := newGrading(t, false)
	g.launch(t, gTeacher)
	g.launch(t, gStudent)
	g.launch(t, gOther)
	act := g.activity(t)
	base := fmt.Sprintf("/api/courses/%s/activities/%d", g.slug, act.ID)
	teacherTok := g.apiToken(t, "teacher1")

	status, _, body := g.api("POST", base+"/grades", teacherTok,
		`{"grades":[{"user":"student1","score":8,"maximum":10,"comment":"autograded"},{"user":"student2","score":3}]}`)
	require.Equal(t, http.StatusOK, status, body)
	require.JSONEq(t, `{"changed":2,"grades":[{"user":"student1","changed":true,"version":1},
		{"user":"student2","changed":true,"version":1}]}`, body)
	status, _, body = g.api("POST", base+"/grades", teacherTok, `{"grades":[{"user":"student1","score":8,"maximum":10,"comment":"autograded"}]}`)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"changed":0,"grades":[{"user":"student1","changed":false,"version":1}]}`, body)

	status, _, body = g.api("GET", base+"/grades", teacherTok, "")
	require.Equal(t, http.StatusOK, status)
	var list struct {
		Grades []map[string]any
	}
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.Len(t, list.Grades, 2)
	require.Equal(t, "student1", list.Grades[0]["user"])
	require.Equal(t, 8.0, list.Grades[0]["score"])
	require.Equal(t, 10.0, list.Grades[0]["maximum"])
	require.Equal(t, "queued", list.Grades[0]["status"])
	require.Equal(t, 100.0, list.Grades[1]["maximum"], "the activity's maximum by default")

	// Clearing with null, all or nothing.
	status, _, body = g.api("POST", base+"/grades", teacherTok, `{"grades":[{"user":"student2","score":null},{"user":"mallory","score":1}]}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, `\"mallory\" is not in this course; nothing was saved`)
	status, _, body = g.api("POST", base+"/grades", teacherTok, `{"grades":[{"user":"student2","score":null}]}`)
	require.Equal(t, http.StatusOK, status, body)
	status, _, body = g.api("POST", base+"/grades", teacherTok, `{"grades":[{"user":"student2","score":-1}]}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "between 0 and the maximum")
	status, _, _ = g.api("POST", base+"/grades", teacherTok, `{"grade":[]}`)
	require.Equal(t, http.StatusBadRequest, status, "unknown fields are refused")

	// Who may do what.
	for name, tc := range map[string]struct {
		token  string
		method string
		path   string
		want   int
	}{
		"no token":                    {"", "GET", base + "/grades", http.StatusUnauthorized},
		"student":                     {g.apiToken(t, "student1"), "GET", base + "/grades", http.StatusForbidden},
		"hand-in scope only":          {g.apiToken(t, "teacher1", web.ScopeHandins), "GET", base + "/grades", http.StatusForbidden},
		"grades scope":                {g.apiToken(t, "teacher1", web.ScopeGrades), "GET", base + "/grades", http.StatusOK},
		"server token":                {g.serverTokenOf(t, "teacher1"), "GET", base + "/grades", http.StatusForbidden},
		"other course":                {teacherTok, "GET", "/api/courses/elsewhere/activities/1/grades", http.StatusNotFound},
		"unknown activity":            {teacherTok, "GET", fmt.Sprintf("/api/courses/%s/activities/999/grades", g.slug), http.StatusNotFound},
		"student lists activities":    {g.apiToken(t, "student1"), "GET", "/api/courses/" + g.slug + "/activities", http.StatusOK},
		"server token, activities":    {g.serverTokenOf(t, "student1"), "GET", "/api/courses/" + g.slug + "/activities", http.StatusOK},
		"grades scope, activities":    {g.apiToken(t, "teacher1", web.ScopeGrades), "GET", "/api/courses/" + g.slug + "/activities", http.StatusOK},
		"other scope, activities":     {g.apiToken(t, "teacher1", "users"), "GET", "/api/courses/" + g.slug + "/activities", http.StatusForbidden},
		"student retries":             {g.apiToken(t, "student1"), "POST", base + "/grades/retry", http.StatusForbidden},
		"teacher retries all at once": {teacherTok, "POST", base + "/grades/retry", http.StatusOK},
	} {
		status, _, body := g.api(tc.method, tc.path, tc.token, "")
		require.Equal(t, tc.want, status, "%s: %s", name, body)
	}
	status, _, body = g.api("POST", base+"/grades/retry", teacherTok, `{"users":["student1"]}`)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"queued":1}`, body)

	// The containers' listener serves the same API.
	req, err := http.NewRequest("GET", base+"/grades", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+teacherTok)
	rec := &responseRecorder{header: http.Header{}}
	g.srv.APIHandler().ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.status)
}

// responseRecorder is a minimal http.ResponseWriter.
type responseRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *responseRecorder) Header() http.Header { return r.header }
func (r *responseRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *responseRecorder) WriteHeader(s int) { r.status = s }

// writeHome puts files into a user's home volume of the course.
func (g *grading) writeHome(t *testing.T, user string, files map[string]string) {
	vol := spawner.HomeVolumeName(user, g.slug)
	_, err := g.docker.EnsureVolume(context.Background(), vol, nil, "1000:100", g.image)
	require.NoError(t, err)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Uid: 1000, Gid: 100,
			Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Now()}))
		tw.Write([]byte(body))
	}
	require.NoError(t, tw.Close())
	require.NoError(t, g.docker.WriteTar(context.Background(), g.image, []spawner.Mount{{Volume: vol, Target: "/h"}}, "/h", &buf))
}

// Hand-ins through the API (with the server's token, as from a notebook,
// or a personal one) and the page; instructors see all of them, a student
// their own; a locked due date refuses more.
func TestHandins(t *testing.T) {
	g := newGrading(t, true)
	teacher := g.launch(t, gTeacher)
	student := g.launch(t, gStudent)
	other := g.launch(t, gOther)
	g.writeHome(t, "student1", map[string]string{"lab1.ipynb": `{"cells":[]}`, "index.html": "<script>alert(1)</script>"})
	act := g.activity(t)
	api := fmt.Sprintf("/api/courses/%s/activities/%d/handins", g.slug, act.ID)

	status, _, body := g.api("POST", api, g.serverTokenOf(t, "student1"), `{"paths":["lab1.ipynb"]}`)
	require.Equal(t, http.StatusCreated, status, body)
	var created struct {
		ID    uint
		User  string
		Files int
	}
	require.NoError(t, json.Unmarshal([]byte(body), &created))
	require.Equal(t, "student1", created.User)
	require.Equal(t, 1, created.Files)
	status, _, body = g.api("POST", api, g.serverTokenOf(t, "student1"), `{"paths":["missing.txt"]}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "There is no missing.txt in your home folder.")

	// The page: the form and the student's hand-ins.
	form := g.hub.URL + g.path(t, "/handin")
	_, body = page(t, student, form)
	require.Contains(t, body, "Your hand-ins")
	require.Contains(t, body, "lab1.ipynb")
	status, loc, _ := postForm(t, student, form, url.Values{"_csrf": {csrfOf(t, body)}, "paths": {"lab1.ipynb\nindex.html\n"}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Contains(t, loc, "/handin?done=")
	_, body = page(t, student, g.hub.URL+loc)
	require.Contains(t, body, "Handed in.")

	// Lists: everything for the teacher, own hand-ins for students.
	status, _, body = g.api("GET", api, g.apiToken(t, "teacher1"), "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 2, strings.Count(body, `"user":"student1"`))
	status, _, body = g.api("GET", api, g.apiToken(t, "student2"), "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, fmt.Sprintf(`{"activity":%d,"handins":[]}`, act.ID), body)
	_, body = page(t, teacher, g.hub.URL+g.path(t, "/handins"))
	require.Contains(t, body, "index.html")
	_, body = page(t, teacher, g.hub.URL+g.path(t, "/grades"))
	require.Contains(t, body, "2 hand-ins")

	// The files of a hand-in: for the teacher and its owner, nobody else.
	hURL := g.hub.URL + g.path(t, fmt.Sprintf("/handins/%d", created.ID))
	status, body = page(t, teacher, hURL)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "lab1.ipynb")
	status, _ = page(t, student, hURL)
	require.Equal(t, http.StatusOK, status)
	status, _ = page(t, other, hURL)
	require.Equal(t, http.StatusNotFound, status)
	resp, err := teacher.Get(hURL + "/files/lab1.ipynb")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, `{"cells":[]}`, string(b))
	require.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename=lab1.ipynb`, resp.Header.Get("Content-Disposition"))
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "sandbox")
	status, _ = page(t, teacher, hURL+"/files/../../etc/passwd")
	require.Equal(t, http.StatusNotFound, status)

	// A due date in the past with a lock closes hand-ins.
	past := time.Now().Add(-time.Hour)
	require.NoError(t, g.grades.Configure(context.Background(), act.ID, grade.Settings{DueAt: &past, LockAtDue: true,
		ScoreMaximum: 100}))
	status, _, body = g.api("POST", api, g.apiToken(t, "student1"), `{"paths":["lab1.ipynb"]}`)
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body, "Hand-ins for this activity closed at")
	_, body = page(t, student, form)
	require.Contains(t, body, "Hand-ins for this activity are closed.")
	require.NotContains(t, body, `name="paths"`)

	// A server's token works for its own course only, and only for hand-ins.
	own := g.serverTokenOf(t, "student1")
	status, _, _ = g.api("GET", fmt.Sprintf("/api/courses/%s/activities/%d/grades", g.slug, act.ID), own, "")
	require.Equal(t, http.StatusForbidden, status)
	second := lms.Course{ID: "3", Label: "H" + g.slug, Title: "Second course"}
	br := &lms.Browser{Client: g.client(), Platform: g.platform}
	resp, err = br.LaunchLTI13(context.Background(), gStudent, second, g.link, g.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	g.settle()
	var crs2 store.Course
	require.NoError(t, g.db.Where("context_id = ?", second.ID).First(&crs2).Error)
	var act2 store.Activity
	require.NoError(t, g.db.Where("course_id = ?", crs2.ID).First(&act2).Error)
	require.NoError(t, g.grades.Configure(context.Background(), act2.ID, grade.Settings{ScoreMaximum: 100}))
	status, _, body = g.api("POST", fmt.Sprintf("/api/courses/%s/activities/%d/handins", crs2.Slug, act2.ID), own,
		`{"paths":["lab1.ipynb"]}`)
	require.Equal(t, http.StatusForbidden, status, "a member's server token of one course does not reach another")
	require.Contains(t, body, "only hand in to its own course")
	status, _, _ = g.api("GET", fmt.Sprintf("/api/courses/%s/activities/%d/handins", crs2.Slug, act2.ID),
		g.apiToken(t, "student1"), "")
	require.Equal(t, http.StatusOK, status, "the student's own token does reach the other course")
}

// inputValue reads the value of the form input named name on a page.
func inputValue(t *testing.T, body, name string) string {
	m := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`).FindStringSubmatch(body)
	require.NotNil(t, m, "page has input %s", name)
	return html.UnescapeString(m[1])
}

// uploadCSV imports content as the grades of g's activity.
func (g *grading) uploadCSV(t *testing.T, c *http.Client, csrf string, content []byte) (int, string, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	require.NoError(t, mw.WriteField("_csrf", csrf))
	fw, err := mw.CreateFormFile("file", "grades.csv")
	require.NoError(t, err)
	_, err = fw.Write(content)
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	resp, err := c.Post(g.hub.URL+g.path(t, "/grades/import"), mw.FormDataContentType(), &buf)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// Saving the grading page as it is shown, or importing the exported file,
// changes no grade, however many decimals the grades have.
func TestGradingKeepsFullPrecision(t *testing.T) {
	g := newGrading(t, false)
	teacher := g.launch(t, gTeacher)
	g.launch(t, gStudent)
	act := g.activity(t)
	sid := g.userID(t, "student1")
	score, maximum := 3.14159265358979, 12.3456789012345
	_, err := g.grades.Set(context.Background(), act.ID, []grade.Entry{{UserID: sid, Score: &score, Maximum: maximum,
		Comment: "ok"}}, "test", "teacher1")
	require.NoError(t, err)
	require.NoError(t, g.grades.Configure(context.Background(), act.ID, grade.Settings{ScoreMaximum: 7.123456789}))

	grades := g.hub.URL + g.path(t, "/grades")
	_, body := page(t, teacher, grades)
	id := fmt.Sprint(sid)
	require.Equal(t, "3.14159265358979", inputValue(t, body, "score_"+id))
	require.Equal(t, "12.3456789012345", inputValue(t, body, "maximum_"+id))
	require.Equal(t, "7.123456789", inputValue(t, body, "maximum"))
	status, loc, _ := postForm(t, teacher, grades, url.Values{"_csrf": {csrfOf(t, body)},
		"score_" + id: {inputValue(t, body, "score_"+id)}, "maximum_" + id: {inputValue(t, body, "maximum_"+id)},
		"comment_" + id: {"ok"}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, g.path(t, "/grades?saved=0"), loc)

	resp, err := teacher.Get(g.hub.URL + g.path(t, "/grades.csv"))
	require.NoError(t, err)
	csvBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(csvBody), ",3.14159265358979,12.3456789012345,")
	status, loc, _ = g.uploadCSV(t, teacher, csrfOf(t, body), csvBody)
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, g.path(t, "/grades?imported=0"), loc)
	var gr store.Grade
	require.NoError(t, g.db.Where("user_id = ?", sid).First(&gr).Error)
	require.Equal(t, score, *gr.Score)
	require.Equal(t, maximum, gr.Maximum)
}

// An explicit maximum of zero or less, or above a million, is refused on
// the page, in the settings, in a CSV file and in the API; an empty or
// left out maximum keeps the grade's.
func TestGradingMaximumBounds(t *testing.T) {
	g := newGrading(t, false)
	teacher := g.launch(t, gTeacher)
	g.launch(t, gStudent)
	act := g.activity(t)
	grades := g.hub.URL + g.path(t, "/grades")
	_, body := page(t, teacher, grades)
	csrf := csrfOf(t, body)
	sid := fmt.Sprint(g.userID(t, "student1"))

	for v, want := range map[string]string{
		"0":       `The maximum of student1, &#34;0&#34;, must be a positive number`,
		"-3":      `The maximum of student1, &#34;-3&#34;, must be a positive number`,
		"2000000": "The maximum score must be at most 1000000. Nothing was saved.",
	} {
		status, _, body := postForm(t, teacher, grades, url.Values{"_csrf": {csrf}, "score_" + sid: {"1"}, "maximum_" + sid: {v}})
		require.Equal(t, http.StatusBadRequest, status, v)
		require.Contains(t, body, want, v)
	}
	settings := g.hub.URL + g.path(t, "/settings")
	for _, v := range []string{"0", "-1", "1000001"} {
		status, _, body := postForm(t, teacher, settings, url.Values{"_csrf": {csrf}, "maximum": {v}})
		require.Equal(t, http.StatusBadRequest, status, v)
		require.Contains(t, body, "The maximum score must be", v)
	}
	status, _, body := g.uploadCSV(t, teacher, csrf, []byte("username,score,maximum\nstudent1,1,0\n"))
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, `maximum &#34;0&#34; is not a positive number`)
	status, _, body = g.uploadCSV(t, teacher, csrf, []byte("username,score,comment\nstudent1,1,caf\xe9\n"))
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "The file is not UTF-8 text. Save it as CSV UTF-8 (in Excel: Save As → CSV UTF-8) and import it again.")
	var n int64
	require.NoError(t, g.db.Model(&store.Grade{}).Count(&n).Error)
	require.Zero(t, n)

	base := fmt.Sprintf("/api/courses/%s/activities/%d", g.slug, act.ID)
	tok := g.apiToken(t, "teacher1")
	status, _, body = g.api("POST", base+"/grades", tok, `{"grades":[{"user":"student1","score":1,"maximum":10}]}`)
	require.Equal(t, http.StatusOK, status, body)
	for in, want := range map[string]string{
		`{"grades":[{"user":"student1","score":1,"maximum":0}]}`:       "must be a positive number",
		`{"grades":[{"user":"student1","score":1,"maximum":-1}]}`:      "must be a positive number",
		`{"grades":[{"user":"student1","score":1,"maximum":2000000}]}`: "The maximum score must be at most 1000000.",
	} {
		status, _, body := g.api("POST", base+"/grades", tok, in)
		require.Equal(t, http.StatusBadRequest, status, in)
		require.Contains(t, body, want, in)
	}
	status, _, body = g.api("POST", base+"/grades", tok, `{"grades":[{"user":"student1","score":2}]}`)
	require.Equal(t, http.StatusOK, status, body)
	var gr store.Grade
	require.NoError(t, g.db.Where("user_id = ?", g.userID(t, "student1")).First(&gr).Error)
	require.Equal(t, 10.0, gr.Maximum, "a left out maximum keeps the grade's")
	require.Equal(t, 2.0, *gr.Score)
}
