package e2e

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// openLink launches u from link l of course c (whose slug is slug) and
// follows Labhub to the running notebook, logged in; it returns the server
// URL.
func (e *env) openLink(t *testing.T, b *lms.Browser, u lms.User, c lms.Course, slug string, l lms.Link) string {
	t.Helper()
	status, loc := e.launchTo(t, b, u, c, l)
	require.Equal(t, http.StatusSeeOther, status, loc)
	server := waitForServer(t, b.Client, e.hub.URL, u.Username, slug)
	status, body := get(t, b.Client, server)
	require.Equal(t, http.StatusOK, status, body)
	return server
}

// upload posts files to the course page's upload form.
func upload(t *testing.T, c *http.Client, pageURL, token, dir string, files map[string]string) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	require.NoError(t, w.WriteField("_csrf", token))
	require.NoError(t, w.WriteField("dir", dir))
	for name, body := range files {
		fw, err := w.CreateFormFile("files", name)
		require.NoError(t, err)
		_, _ = io.WriteString(fw, body)
	}
	require.NoError(t, w.Close())
	req, err := http.NewRequest(http.MethodPost, pageURL+"materials", &buf)
	require.NoError(t, err)
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := noRedirect(c).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// containerIP returns a container's address on a network, "" when it is
// not attached there.
func containerIP(t *testing.T, name, network string) string {
	t.Helper()
	raw, err := testutil.Docker(t).ContainerInspect(context.Background(), name)
	require.NoError(t, err)
	if ep := raw.NetworkSettings.Networks[network]; ep != nil {
		return ep.IPAddress
	}
	return ""
}

// mustIP is containerIP for a network the container must be on.
func mustIP(t *testing.T, name, network string) string {
	t.Helper()
	ip := containerIP(t, name, network)
	require.NotEmpty(t, ip, "%s is not on %s", name, network)
	return ip
}

// reachCode is Python that prints whether host:8888 accepts a connection.
func reachCode(host string) string {
	return fmt.Sprintf(`import socket
try:
    socket.create_connection((%q, 8888), timeout=3).close(); print("reached")
except OSError as e:
    print("blocked")`, host)
}

var optionRE = regexp.MustCompile(`<option value="(\d+)"[^>]*>([a-z0-9.-]+):`)

// imageIDs maps catalog names to the ids the course page's form uses.
func imageIDs(page string) map[string]string {
	out := map[string]string{}
	for _, m := range optionRE.FindAllStringSubmatch(page, -1) {
		out[m[2]] = m[1]
	}
	return out
}

// serverID returns the id of user's server in the course page's table.
func serverID(t *testing.T, page, user string) string {
	t.Helper()
	m := regexp.MustCompile(`data-user="` + regexp.QuoteMeta(user) + `">[\s\S]*?/servers/(\d+)/`).FindStringSubmatch(page)
	require.NotNil(t, m, "no server of %s on the page", user)
	return m[1]
}

// The course environment on the real engine, through the instructor's page:
// settings shape servers (limits, network), course files reach students
// read-only, a starting notebook is copied once, a help view is read-only,
// an image change waits for the next start, and the course's end exports,
// stops and deletes.
func TestCourseEnvironmentEndToEnd(t *testing.T) {
	ctx := context.Background()
	nb := testutil.Image(t)
	cli := testutil.Docker(t)
	tagB := fmt.Sprintf("labhub/notebook:e2e-b-%d", os.Getpid())
	require.NoError(t, cli.ImageTag(ctx, nb, tagB))
	t.Cleanup(func() { _, _ = cli.ImageRemove(context.Background(), tagB, image.RemoveOptions{}) })
	e := newEnv(t, "--pids-limit", "160")
	e.hub.CLI("image", "add", "nb-a", nb, "--description", "Notebook A", "--mem-max", "1G")
	e.hub.CLI("image", "add", "nb-b", tagB, "--description", "Notebook B")
	e.hub.Start()
	// Names of their own: volumes and containers are named after users and
	// courses on the shared engine.
	pid := os.Getpid()
	crs := lms.Course{ID: "12", Label: fmt.Sprintf("Env %d", pid), Title: "Environments"}
	slug := fmt.Sprintf("env-%d", pid)
	s1 := lms.User{ID: "41", Username: fmt.Sprintf("s1-%d", pid), GivenName: "Sam", Roles: []string{lms.RoleLearner}}
	s2 := lms.User{ID: "42", Username: fmt.Sprintf("s2-%d", pid), GivenName: "Kim", Roles: []string{lms.RoleLearner}}
	teach := lms.User{ID: "43", Username: fmt.Sprintf("t-%d", pid), GivenName: "Terry", Roles: []string{lms.RoleInstructor}}

	// The instructor's first launch lands on the course page to choose.
	teacher := browser(t, e.platform)
	status, loc := e.launchTo(t, teacher, teach, crs, lab1)
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/hub/courses/"+slug+"/?choose=1", loc)
	pageURL := e.hub.URL + "hub/courses/" + slug + "/"
	_, home := get(t, teacher.Client, e.hub.URL+"hub/home")
	require.Contains(t, home, `<a href="/hub/courses/`+slug+`/">Environments</a>`, "the home page links the course page")
	status, page := get(t, teacher.Client, pageURL)
	require.Equal(t, http.StatusOK, status)
	token := csrf(t, page)
	ids := imageIDs(page)
	require.Contains(t, ids, "nb-a")
	settings := func(img, mem, network string) {
		t.Helper()
		status, loc, body := postForm(t, teacher.Client, pageURL+"settings", url.Values{"_csrf": {token}, "image": {ids[img]},
			"mem": {mem}, "network": {network}, "idle": {"default"}})
		require.Equal(t, http.StatusSeeOther, status, body)
		require.Contains(t, loc, "notice=saved")
	}
	status, _, body := postForm(t, teacher.Client, pageURL+"settings", url.Values{"_csrf": {token}, "image": {ids["nb-a"]},
		"mem": {"2G"}, "network": {"hub"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "Memory may be at most 1G")
	settings("nb-a", "400M", "course")
	status, _ = upload(t, teacher.Client, pageURL, token, "week1", map[string]string{"intro.ipynb": `{"cells": [], "note": "from the teacher"}`})
	require.Equal(t, http.StatusSeeOther, status)
	_, page = get(t, teacher.Client, pageURL)
	require.Contains(t, page, "<li>week1/intro.ipynb <span")
	status, body = get(t, teacher.Client, pageURL+"materials.zip")
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, map[string]string{"week1/intro.ipynb": `{"cells": [], "note": "from the teacher"}`},
		unzip(t, []byte(body)), "the download holds the course files")

	// Students start from an activity with a starting notebook.
	week1 := lms.Link{ID: "2", Title: "Week 1", Custom: map[string]string{"labhub_start": "week1/intro.ipynb"}}
	alice := browser(t, e.platform)
	aliceServer := e.openLink(t, alice, s1, crs, slug, week1)
	ja := &jupyter{t: t, client: alice.Client, base: aliceServer}
	status, _ = get(t, alice.Client, pageURL)
	require.Equal(t, http.StatusNotFound, status, "students have no course page")
	status, body = ja.do(http.MethodGet, "api/contents/intro.ipynb?content=1&type=file&format=text", nil)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "from the teacher")
	out, errText := ja.run("open('/home/jovyan/intro.ipynb', 'w').write('changed by student'); print('ok')")
	require.Empty(t, errText)
	require.Equal(t, "ok\n", out)
	_, errText = ja.run("print(open('/home/jovyan/shared/week1/intro.ipynb').read()); open('/home/jovyan/shared/x', 'w')")
	require.Contains(t, errText, "Read-only file system", "students only read the course files")
	bob := browser(t, e.platform)
	e.openLink(t, bob, s2, crs, slug, week1)
	aliceName, bobName := e.hub.names.Container(s1.Username, slug), e.hub.names.Container(s2.Username, slug)
	courseNet := e.hub.network + "-course-" + spawner.Escape(slug)

	// The course network: the course's servers reach each other there, and
	// not over the hub's network.
	out, _ = ja.run(reachCode(mustIP(t, bobName, courseNet)))
	require.Equal(t, "reached\n", out)
	out, _ = ja.run(reachCode(mustIP(t, bobName, e.hub.network)))
	require.Equal(t, "blocked\n", out)

	// Limits: processes stop at the pids limit; a process over the memory
	// limit is killed, and the course page reports it.
	out, errText = ja.run(`import subprocess
ps = []
try:
    for _ in range(400):
        ps.append(subprocess.Popen(["sleep", "30"]))
    print("started", len(ps))
except OSError as e:
    print("stopped at", len(ps), e.strerror)
for p in ps:
    p.kill(); p.wait()`)
	require.Empty(t, errText)
	require.Contains(t, out, "Resource temporarily unavailable")
	out, errText = ja.run(`import subprocess
print(subprocess.run(["python3", "-c", "b = bytearray(700 << 20)"]).returncode)`)
	require.Empty(t, errText)
	require.Equal(t, "-9\n", out, "the kernel killed the process over 400M")
	require.Eventually(t, func() bool {
		_, page := get(t, teacher.Client, pageURL)
		return strings.Contains(page, "Killed 1× for going over the memory limit")
	}, 20*time.Second, 200*time.Millisecond)

	// Help: the instructor opens the student's server read-only.
	_, page = get(t, teacher.Client, pageURL)
	aliceID := serverID(t, page, s1.Username)
	status, _, _ = postForm(t, bob.Client, pageURL+"servers/"+aliceID+"/help", url.Values{"_csrf": {token}})
	require.Equal(t, http.StatusNotFound, status, "another student cannot open it")
	status, loc, _ = postForm(t, teacher.Client, pageURL+"servers/"+aliceID+"/help", url.Values{"_csrf": {token}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/user/"+s1.Username+"/"+slug+"/", loc)
	status, body = get(t, teacher.Client, aliceServer)
	require.Equal(t, http.StatusOK, status, body)
	tj := &jupyter{t: t, client: teacher.Client, base: aliceServer}
	status, body = tj.do(http.MethodGet, "api/contents/intro.ipynb?content=1&type=file&format=text", nil)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "changed by student")
	status, body = tj.do(http.MethodPut, "api/contents/by-teacher.txt", strings.NewReader(`{"type":"file","format":"text","content":"x"}`))
	require.Equal(t, http.StatusForbidden, status, body)
	require.Contains(t, body, "read-only")
	status, _ = tj.do(http.MethodPost, "api/kernels", strings.NewReader(`{"name":"python3"}`))
	require.Equal(t, http.StatusForbidden, status, "no code runs in a help view")
	wsURL := strings.Replace(aliceServer, "http://", "ws://", 1) + "api/kernels/x/channels"
	_, resp, err := (&websocket.Dialer{Jar: teacher.Client.Jar}).Dial(wsURL, nil)
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	status, body = ja.do(http.MethodPut, "api/contents/mine.txt", strings.NewReader(`{"type":"file","format":"text","content":"kept"}`))
	require.Equal(t, http.StatusCreated, status, "the owner still writes: %s", body)
	_, page = get(t, teacher.Client, pageURL)
	require.Contains(t, page, "help.open")

	// An image change waits for each server's next start.
	settings("nb-b", "400M", "hub")
	image := func(name string) string {
		raw, err := cli.ContainerInspect(ctx, name)
		require.NoError(t, err)
		return raw.Config.Image
	}
	require.Equal(t, nb, image(aliceName), "a running server keeps its image")
	status, _, _ = postForm(t, teacher.Client, pageURL+"servers/"+aliceID+"/restart", url.Values{"_csrf": {token}})
	require.Equal(t, http.StatusSeeOther, status)
	waitForServer(t, alice.Client, e.hub.URL, s1.Username, slug)
	require.Equal(t, tagB, image(aliceName), "the restart runs the new image")
	require.Empty(t, containerIP(t, aliceName, courseNet), "hub only: no course network")
	status, _, _ = postForm(t, teacher.Client, pageURL+"restart-all", url.Values{"_csrf": {token}})
	require.Equal(t, http.StatusSeeOther, status)
	waitForServer(t, bob.Client, e.hub.URL, s2.Username, slug)
	waitForServer(t, alice.Client, e.hub.URL, s1.Username, slug)
	require.Equal(t, tagB, image(bobName))
	_, _ = get(t, alice.Client, aliceServer)
	out, _ = ja.run(reachCode(mustIP(t, bobName, e.hub.network)))
	require.Equal(t, "blocked\n", out, "hub only: no other student's container")

	// The starting notebook was copied once: a new start keeps the
	// student's version.
	e.openLink(t, alice, s1, crs, slug, week1)
	out, _ = ja.run("print(open('/home/jovyan/intro.ipynb').read())")
	require.Equal(t, "changed by student\n", out)
	db, err := store.Open(ctx, "", e.hub.dir, nil)
	require.NoError(t, err)
	var copies []store.StartCopy
	require.NoError(t, db.Find(&copies).Error)
	db.Close()
	require.Len(t, copies, 2, "one copy per student and activity")
	require.Equal(t, "week1/intro.ipynb", copies[0].Path)
	require.Equal(t, 1, copies[0].Files)

	// A hand-in, through the API a notebook reaches with its own token.
	out, errText = ja.run(`
import json, os, urllib.request
api, tok = os.environ["LABHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"]
def call(method, path, body=None):
    req = urllib.request.Request(api + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "token " + tok, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status
c = os.environ["JUPYTERHUB_SERVER_NAME"]
with urllib.request.urlopen(urllib.request.Request(api + "courses/%s/activities" % c, headers={"Authorization": "token " + tok})) as r:
    aid = [a["id"] for a in json.load(r)["activities"] if a["resource_link_id"] == "2"][0]
print(call("POST", "courses/%s/activities/%d/handins" % (c, aid), {"paths": ["mine.txt"]}))
`)
	require.Empty(t, errText)
	require.Equal(t, "201\n", out)

	// The course's end: archives of every student's home and hand-ins, then
	// stop and delete.
	status, body = get(t, teacher.Client, pageURL+"export/"+s1.Username)
	require.Equal(t, http.StatusOK, status)
	files := untar(t, []byte(body))
	require.Equal(t, "changed by student", files["home/intro.ipynb"])
	require.Equal(t, "kept", files["home/mine.txt"])
	handedIn := 0
	for name, content := range files {
		if strings.HasPrefix(name, "handins/") && strings.HasSuffix(name, "/"+spawner.Escape(s1.Username)+"/"+path.Base(path.Dir(name))+"/mine.txt") {
			require.Equal(t, "kept", content)
			handedIn++
		}
	}
	require.Equal(t, 1, handedIn, "the archive holds the hand-in: %v", files)
	status, body = get(t, teacher.Client, pageURL+"export.zip")
	require.Equal(t, http.StatusOK, status)
	zr, err := zip.NewReader(bytes.NewReader([]byte(body)), int64(len(body)))
	require.NoError(t, err)
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	require.ElementsMatch(t, []string{s1.Username + ".tar.gz", s2.Username + ".tar.gz"}, names)

	status, loc, _ = postForm(t, teacher.Client, pageURL+"end", url.Values{"_csrf": {token}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Contains(t, loc, "notice=ended")
	_, err = cli.ContainerInspect(ctx, aliceName)
	require.Error(t, err, "ending the course stops its servers")
	status, _ = e.launchTo(t, alice, s1, crs, week1)
	require.Equal(t, http.StatusConflict, status)
	_, page = get(t, alice.Client, e.hub.URL+"hub/home")
	require.NotContains(t, page, "running")

	status, _, body = postForm(t, teacher.Client, pageURL+"delete", url.Values{"_csrf": {token}, "confirm": {"nope"}})
	require.Equal(t, http.StatusBadRequest, status, body)
	status, _, body = postForm(t, teacher.Client, pageURL+"delete", url.Values{"_csrf": {token}, "confirm": {slug}})
	require.Equal(t, http.StatusOK, status, body)
	for _, v := range []string{mustHome(t, e.hub.names, s1.Username, slug), mustHome(t, e.hub.names, s2.Username, slug),
		e.hub.names.Shared(slug), e.hub.names.Handins(slug)} {
		_, err := cli.VolumeInspect(ctx, v)
		require.Error(t, err, "volume %s is deleted", v)
	}
	status, _ = get(t, teacher.Client, pageURL)
	require.Equal(t, http.StatusNotFound, status)
}

// unzip reads the files of a zip archive into a map of their contents.
func unzip(t *testing.T, b []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	require.NoError(t, err)
	out := map[string]string{}
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		require.NoError(t, err)
		body, err := io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err)
		out[f.Name] = string(body)
	}
	return out
}

// untar reads a gzipped tar archive into a map of file contents.
func untar(t *testing.T, b []byte) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		if h.Typeflag == tar.TypeReg {
			body, err := io.ReadAll(tr)
			require.NoError(t, err)
			out[h.Name] = string(body)
		}
	}
}
