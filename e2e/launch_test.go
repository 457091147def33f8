package e2e

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lms"
)

// env is a hub registered with a platform double as an LMS administrator
// would do it, through the labhub command.
type env struct {
	hub      *hub
	platform *lms.Platform
	clientID string
	key      string
}

func newEnv(t *testing.T, extra ...string) *env {
	return newEnvWith(t, false, extra...)
}

// newEnvWith is newEnv; with oldEnv the LTI 1.1 consumer comes from the old
// deployment's LTI_CLIENT_KEY and LTI_SHARED_SECRET instead of the command.
func newEnvWith(t *testing.T, oldEnv bool, extra ...string) *env {
	return register(t, newHub(t, extra...), oldEnv)
}

// register creates a platform double and registers it with h at h.URL.
func register(t *testing.T, h *hub, oldEnv bool) *env {
	p, err := lms.New(lms.Options{})
	require.NoError(t, err)
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	p.SetIssuer(srv.URL)
	e := &env{hub: h, platform: p, clientID: lms.NewClientID(), key: "moodle-key"}
	const secret = "moodle secret with spaces & symbols"
	p.AddTool(lms.Tool{
		ClientID: e.clientID, DeploymentID: "1",
		LoginURL: h.URL + "lti/login", RedirectURIs: []string{h.URL + "lti/launch"},
		TargetLinkURI: h.URL + "lti/launch", JWKSURL: h.URL + "lti/jwks",
		LTI11LaunchURL: h.URL + "hub/lti/launch", ConsumerKey: e.key, SharedSecret: secret,
	})
	h.CLI("lti13", "add-platform", "--issuer", srv.URL, "--client-id", e.clientID, "--deployment-id", "1",
		"--auth-url", srv.URL+"/mod/lti/auth.php", "--token-url", srv.URL+"/mod/lti/token.php",
		"--jwks-url", srv.URL+"/mod/lti/certs.php")
	if oldEnv {
		h.extraEnv = append(h.extraEnv, "LTI_CLIENT_KEY="+e.key, "LTI_SHARED_SECRET="+secret)
	} else {
		h.CLI("lti11", "add-consumer", "--key", e.key, "--secret", secret)
	}
	return e
}

func browser(t *testing.T, p *lms.Platform) *lms.Browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &lms.Browser{Client: &http.Client{Jar: jar}, Platform: p}
}

var (
	student1   = lms.User{ID: "4", Username: "student1", GivenName: "Sam", FamilyName: "Student", Email: "s1@example.invalid", Roles: []string{lms.RoleLearner}}
	student2   = lms.User{ID: "5", Username: "student2", GivenName: "Kim", FamilyName: "Student", Email: "s2@example.invalid", Roles: []string{lms.RoleLearner}}
	instructor = lms.User{ID: "3", Username: "teacher1", GivenName: "Terry", FamilyName: "Teacher", Email: "t1@example.invalid", Roles: []string{lms.RoleInstructor}}
	course101  = lms.Course{ID: "2", Label: "LTI101", Title: "LTI Acceptance Course"}
	lab1       = lms.Link{ID: "1", Title: "Jupyter lab", LineItem: true}
)

// launch13 launches as u and follows Labhub to the running notebook. It
// returns the notebook server's URL.
func (e *env) launch(t *testing.T, b *lms.Browser, u lms.User, version string) string {
	t.Helper()
	var resp *http.Response
	var err error
	if version == "1.1" {
		resp, err = b.LaunchLTI11(context.Background(), u, course101, lab1, e.key)
	} else {
		resp, err = b.LaunchLTI13(context.Background(), u, course101, lab1, e.clientID)
	}
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "launch answers with a redirect")
	loc := resp.Header.Get("Location")
	name := u.Username
	if !strings.HasPrefix(loc, "/user/") {
		require.Equal(t, "/hub/spawn-pending/"+name+"/lti101", loc)
		status, page := get(t, b.Client, e.hub.URL+strings.TrimPrefix(loc, "/"))
		require.Equal(t, http.StatusAccepted, status)
		require.Contains(t, page, "Starting your server")
		require.Contains(t, page, "EventSource")
	}
	server := waitForServer(t, b.Client, e.hub.URL, name, "lti101")
	require.Equal(t, e.hub.URL+"user/"+name+"/lti101/", server)

	// Opening the server runs jupyterhub-singleuser's OAuth login with the
	// hub, in the same cookie jar, and lands on the notebook UI.
	resp, err = b.Client.Get(server)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "final URL %s", resp.Request.URL)
	require.True(t, strings.HasPrefix(resp.Request.URL.Path, "/user/"+name+"/lti101/"), resp.Request.URL.Path)
	status, body := get(t, b.Client, server+"api/status")
	require.Equal(t, http.StatusOK, status, body)
	return server
}

func TestLTI13EndToEnd(t *testing.T) {
	e := newEnv(t)
	e.hub.Start()

	alice := browser(t, e.platform)
	server := e.launch(t, alice, student1, "1.3")
	j := &jupyter{t: t, client: alice.Client, base: server}
	out, errText := j.run("print(6*7)")
	require.Empty(t, errText)
	require.Equal(t, "42\n", out)

	// A second student gets a separate container and cannot open the
	// first student's server.
	bob := browser(t, e.platform)
	bobServer := e.launch(t, bob, student2, "1.3")
	require.NotEqual(t, server, bobServer)
	out, _ = (&jupyter{t: t, client: bob.Client, base: bobServer}).run("import socket; print(socket.gethostname())")
	aliceHost, _ := j.run("import socket; print(socket.gethostname())")
	require.NotEqual(t, aliceHost, out, "each student has their own container")
	status, page := get(t, bob.Client, server)
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, page, "This is not your server")
	status, _ = get(t, bob.Client, server+"api/status")
	require.NotEqual(t, http.StatusOK, status)

	// The course's shared folder: read-only for students, writable for the
	// instructor, the same files for everybody.
	_, errText = j.run("open('/home/jovyan/shared/by-student.txt', 'w').write('x')")
	require.Contains(t, errText, "Read-only file system")
	teacher := browser(t, e.platform)
	teacherServer := e.launch(t, teacher, instructor, "1.3")
	tj := &jupyter{t: t, client: teacher.Client, base: teacherServer}
	out, errText = tj.run("open('/home/jovyan/shared/notes.txt', 'w').write('hello class'); print('ok')")
	require.Empty(t, errText)
	require.Equal(t, "ok\n", out)
	out, errText = j.run("print(open('/home/jovyan/shared/notes.txt').read())")
	require.Empty(t, errText)
	require.Equal(t, "hello class\n", out)

	// The student's home persists and is theirs alone.
	_, errText = j.run("open('/home/jovyan/mine.txt', 'w').write('kept')")
	require.Empty(t, errText)

	// A restarted hub adopts the running containers: the notebook still
	// answers and runs code, with no new OAuth dance needed.
	e.hub.Stop(syscall.SIGTERM)
	e.hub.Start()
	require.Contains(t, e.hub.logs.String(), "adopted running container")
	status, body := get(t, alice.Client, server+"api/status")
	require.Equal(t, http.StatusOK, status, body)
	out, errText = j.run("print(6*7, open('/home/jovyan/mine.txt').read())")
	require.Empty(t, errText)
	require.Equal(t, "42 kept\n", out)

	// A launch of a running server goes straight to it.
	resp, err := alice.LaunchLTI13(context.Background(), student1, course101, lab1, e.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/user/student1/lti101/", resp.Header.Get("Location"))

	// A container that dies while the hub is down is found out at start:
	// its server is marked stopped, its owner is told so, and a new launch
	// starts a fresh container on the same home volume.
	e.hub.Stop(syscall.SIGTERM)
	cli := testutil.Docker(t)
	require.NoError(t, cli.ContainerKill(context.Background(), e.hub.names.Container("student1", "lti101"), "KILL"))
	e.hub.Start()
	status, page = get(t, alice.Client, server)
	require.Equal(t, http.StatusFailedDependency, status)
	require.Contains(t, page, "not running")
	server = e.launch(t, alice, student1, "1.3")
	out, errText = (&jupyter{t: t, client: alice.Client, base: server}).run("print(open('/home/jovyan/mine.txt').read())")
	require.Empty(t, errText)
	require.Equal(t, "kept\n", out)
}

func TestLTI11EndToEnd(t *testing.T) {
	e := newEnvWith(t, true)
	e.hub.Start()
	b := browser(t, e.platform)
	server := e.launch(t, b, student1, "1.1")
	out, errText := (&jupyter{t: t, client: b.Client, base: server}).run("print(6*7)")
	require.Empty(t, errText)
	require.Equal(t, "42\n", out)
}
