package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lms"
)

// lmsServer serves the platform double on a fixed address that survives a
// stop, like a real LMS being restarted: the platform keeps its state
// (Moodle's database), the listener goes away and comes back on the same
// port.
type lmsServer struct {
	t       *testing.T
	handler http.Handler
	addr    string
	mu      sync.Mutex
	srv     *http.Server
}

func startLMS(t *testing.T, h http.Handler) *lmsServer {
	l := &lmsServer{t: t, handler: h, addr: "127.0.0.1:0"}
	l.start()
	t.Cleanup(l.stop)
	return l
}

func (l *lmsServer) URL() string { return "http://" + l.addr }

func (l *lmsServer) start() {
	l.t.Helper()
	var ln net.Listener
	var err error
	// The old port may take a moment to be free again.
	for range 50 {
		if ln, err = net.Listen("tcp", l.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(l.t, err)
	l.addr = ln.Addr().String()
	srv := &http.Server{Handler: l.handler, ReadHeaderTimeout: 10 * time.Second}
	l.mu.Lock()
	l.srv = srv
	l.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// stop closes the listener and every connection at once, the way a crashed
// web server drops them.
func (l *lmsServer) stop() {
	l.mu.Lock()
	srv := l.srv
	l.srv = nil
	l.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// slowScores delays every score request, so that the crash test can kill
// Labhub while deliveries are under way.
func slowScores(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/scores") {
			time.Sleep(d)
		}
		h.ServeHTTP(w, r)
	})
}

// gradeEnv is a hub registered with a platform double that can be stopped
// and restarted.
type gradeEnv struct {
	hub      *hub
	platform *lms.Platform
	lms      *lmsServer
	clientID string
	key      string
}

func newGradeEnv(t *testing.T, wrap func(http.Handler) http.Handler, extra ...string) *gradeEnv {
	h := newHub(t, extra...)
	p, err := lms.New(lms.Options{})
	require.NoError(t, err)
	var handler http.Handler = p.Handler()
	if wrap != nil {
		handler = wrap(handler)
	}
	ls := startLMS(t, handler)
	p.SetIssuer(ls.URL())
	e := &gradeEnv{hub: h, platform: p, lms: ls, clientID: lms.NewClientID(), key: "moodle-key"}
	const secret = "moodle secret"
	p.AddTool(lms.Tool{
		ClientID: e.clientID, DeploymentID: "1",
		LoginURL: h.URL + "lti/login", RedirectURIs: []string{h.URL + "lti/launch"},
		TargetLinkURI: h.URL + "lti/launch", JWKSURL: h.URL + "lti/jwks",
		LTI11LaunchURL: h.URL + "hub/lti/launch", ConsumerKey: e.key, SharedSecret: secret,
	})
	h.CLI("lti13", "add-platform", "--issuer", ls.URL(), "--client-id", e.clientID, "--deployment-id", "1",
		"--auth-url", ls.URL()+"/mod/lti/auth.php", "--token-url", ls.URL()+"/mod/lti/token.php",
		"--jwks-url", ls.URL()+"/mod/lti/certs.php")
	h.CLI("lti11", "add-consumer", "--key", e.key, "--secret", secret)
	return e
}

// noServer is an activity whose image is not in the catalog: its launches
// record everything a launch records, and start no container.
var noServer = lms.Link{ID: "31", Title: "Graded lab", LineItem: true, Custom: map[string]string{"labhub_image": "not-in-catalog"}}

// launchAll performs the LTI launches of users (1.3 or 1.1), a few at a
// time, and checks that Labhub accepted each.
func (e *gradeEnv) launchAll(t *testing.T, c lms.Course, l lms.Link, version string, users []lms.User) {
	t.Helper()
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	errs := make(chan error, len(users))
	for _, u := range users {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			b := browser(t, e.platform)
			b.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			var resp *http.Response
			var err error
			if version == "1.1" {
				resp, err = b.LaunchLTI11(context.Background(), u, c, l, e.key)
			} else {
				resp, err = b.LaunchLTI13(context.Background(), u, c, l, e.clientID)
			}
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				errs <- fmt.Errorf("launch of %s answered %d", u.Username, resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// api calls Labhub's JSON API with token.
func (e *gradeEnv) api(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.hub.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// activityID finds the activity of a resource link through the API.
func (e *gradeEnv) activityID(t *testing.T, course, token, linkID string) uint {
	t.Helper()
	status, body := e.api(t, "GET", "api/courses/"+course+"/activities", token, "")
	require.Equal(t, http.StatusOK, status, body)
	var out struct {
		Activities []struct {
			ID             uint
			ResourceLinkID string `json:"resource_link_id"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	for _, a := range out.Activities {
		if a.ResourceLinkID == linkID {
			return a.ID
		}
	}
	t.Fatalf("no activity for link %s in %s", linkID, body)
	return 0
}

type apiGrade struct {
	User    string
	Score   *float64
	Version int
	Status  string
	Code    string
	Detail  string `json:"status_detail"`
}

func (e *gradeEnv) grades(t *testing.T, course string, activity uint, token string) []apiGrade {
	t.Helper()
	status, body := e.api(t, "GET", fmt.Sprintf("api/courses/%s/activities/%d/grades", course, activity), token, "")
	require.Equal(t, http.StatusOK, status, body)
	var out struct{ Grades []apiGrade }
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	return out.Grades
}

func statesOf(gs []apiGrade) map[string]int {
	out := map[string]int{}
	for _, g := range gs {
		out[g.Status]++
	}
	return out
}

// The crash test: 500 grades are queued; Labhub is killed with SIGKILL
// while it delivers them and the LMS goes down at the same moment; grades
// change while both are down; Labhub comes back first and meets an LMS that
// is still down, then the LMS comes back. Every grade reaches the gradebook
// exactly once in its final value.
func TestGradesSurviveCrash(t *testing.T) {
	const n = 500
	e := newGradeEnv(t, func(h http.Handler) http.Handler { return slowScores(h, 10*time.Millisecond) },
		"--grade-retry-min", "300ms", "--grade-retry-max", "2s", "--grade-poll", "200ms")
	e.hub.Start()
	crs := lms.Course{ID: "7", Label: "CRASH", Title: "Crash course"}
	teacher := lms.User{ID: "2", Username: "teacher1", Roles: []string{lms.RoleInstructor}}
	students := make([]lms.User, n)
	for i := range students {
		students[i] = lms.User{ID: fmt.Sprint(1000 + i), Username: fmt.Sprintf("s%03d", i), Roles: []string{lms.RoleLearner}}
	}
	start := time.Now()
	e.launchAll(t, crs, noServer, "1.3", append([]lms.User{teacher}, students...))
	t.Logf("%d launches in %s", n+1, time.Since(start).Round(time.Millisecond))
	token := strings.TrimSpace(e.hub.CLI("token", "create", "teacher1", "--scope", "grades"))
	act := e.activityID(t, "crash", token, noServer.ID)

	// Version 1 of every grade, in one request.
	first := make([]float64, n)
	var body strings.Builder
	body.WriteString(`{"grades":[`)
	for i := range students {
		first[i] = float64(i % 11)
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `{"user":%q,"score":%g,"maximum":10}`, students[i].Username, first[i])
	}
	body.WriteString("]}")
	status, resp := e.api(t, "POST", fmt.Sprintf("api/courses/crash/activities/%d/grades", act), token, body.String())
	require.Equal(t, http.StatusOK, status, resp)
	require.Contains(t, resp, fmt.Sprintf(`"changed":%d`, n))

	// Kill Labhub and take the LMS down in the middle of the deliveries.
	deadline := time.Now().Add(60 * time.Second)
	for e.platform.ScoreRequests() < n/5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	e.hub.Stop(syscall.SIGKILL)
	e.lms.stop()
	atKill := e.platform.ScoreRequests()
	t.Logf("killed Labhub after %d score requests", atKill)
	require.Greater(t, atKill, 0)
	require.Less(t, atKill, n, "Labhub was killed mid-delivery")

	// While both are down, an instructor changes every tenth grade from
	// the command line.
	final := append([]float64(nil), first...)
	var csv strings.Builder
	csv.WriteString("username,score,maximum\n")
	for i := 0; i < n; i += 10 {
		final[i] = first[i] + 0.5
		if final[i] > 10 {
			final[i] = 9.5
		}
		fmt.Fprintf(&csv, "%s,%g,10\n", students[i].Username, final[i])
	}
	file := filepath.Join(t.TempDir(), "changes.csv")
	require.NoError(t, os.WriteFile(file, []byte(csv.String()), 0o600))
	require.Contains(t, e.hub.CLI("grade", "import", "crash", fmt.Sprint(act), file), "50 grade(s) changed")

	// Labhub comes back first and finds the LMS still down.
	e.hub.Start()
	require.Eventually(t, func() bool {
		return statesOf(e.grades(t, "crash", act, token))["retrying"] > 0
	}, 30*time.Second, 100*time.Millisecond, "deliveries wait for the LMS")
	time.Sleep(time.Second)
	e.lms.start()

	deadline = time.Now().Add(3 * time.Minute)
	var gs []apiGrade
	for time.Now().Before(deadline) {
		gs = e.grades(t, "crash", act, token)
		if statesOf(gs)["delivered"] == n {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	require.Equal(t, map[string]int{"delivered": n}, statesOf(gs))

	item := e.platform.LineItemURL(crs, noServer, e.clientID)
	twice := 0
	for i, u := range students {
		score, _, ok := e.platform.Grade(item, u.ID)
		require.True(t, ok, u.Username)
		require.InDelta(t, final[i]*10, *score, 1e-9, "%s holds its final grade", u.Username)
		h := e.platform.GradeHistory(item, u.ID)
		require.NotEmpty(t, h, u.Username)
		finals := 0
		for _, ev := range h {
			if ev.Score != nil && *ev.Score == final[i]*10 {
				finals++
			}
		}
		require.Equal(t, 1, finals, "%s: the final grade was recorded exactly once (history %v)", u.Username, h)
		require.InDelta(t, final[i]*10, *h[len(h)-1].Score, 1e-9, "%s: nothing came after the final grade", u.Username)
		require.LessOrEqual(t, len(h), 2, u.Username)
		if final[i] == first[i] {
			require.Len(t, h, 1, "%s: an unchanged grade was recorded once", u.Username)
		}
		if len(h) == 2 {
			twice++
		}
	}
	t.Logf("%d score requests in all; %d students got the first and the changed grade, the rest one",
		e.platform.ScoreRequests(), twice)
	require.Contains(t, e.hub.logs.String(), "grade delivery failed, will retry")
}
