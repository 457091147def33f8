package e2e

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lms"
)

// clickThrough posts a form and keeps submitting the auto-submitting forms
// of the answers, as a browser with JavaScript does, until a page without
// one.
func clickThrough(t *testing.T, c *http.Client, action string, form url.Values) *http.Response {
	t.Helper()
	for hop := 0; hop < 10; hop++ {
		resp, err := c.PostForm(action, form)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if !bytes.Contains(body, []byte("<form")) || !bytes.Contains(body, []byte("submit()")) {
			return resp
		}
		next, fields, err := lms.ParseAutoSubmitForm(bytes.NewReader(body))
		require.NoError(t, err)
		u, err := resp.Request.URL.Parse(next)
		require.NoError(t, err)
		action, form = u.String(), fields
	}
	t.Fatal("too many forms")
	return nil
}

// The README's main job: `labhub demo` serves a demo LMS whose buttons
// launch into a working notebook over LTI 1.3 and LTI 1.1.
func TestDemo(t *testing.T) {
	h := newHub(t)
	h.startCommand("demo")
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Jar: jar}

	status, page := get(t, c, h.URL+"demo/")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "Launch as student")
	require.Contains(t, page, "Launch as instructor")

	// The instructor adds an activity with Labhub's picker; it appears on
	// the demo page and launches like the first.
	resp := clickThrough(t, c, h.URL+"demo/add-activity", nil)
	picker, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(picker))
	action, fields, err := lms.ParseAutoSubmitForm(bytes.NewReader(picker))
	require.NoError(t, err)
	fields.Set("title", "Picked lab")
	fields.Set("points", "5")
	fields.Del("cancel")
	next, err := resp.Request.URL.Parse(action)
	require.NoError(t, err)
	resp = clickThrough(t, c, next.String(), fields)
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(t, string(body), "Activities added")
	status, page = get(t, c, h.URL+"demo/")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "Picked lab (LTI 1.3, added with the picker)")

	for _, tc := range []struct{ path, as, user string }{
		{"demo/launch", "student", "demo-student"},
		{"demo/lti11", "instructor", "demo-teacher"},
	} {
		resp := clickThrough(t, c, h.URL+tc.path, url.Values{"as": {tc.as}})
		require.Equal(t, http.StatusAccepted, resp.StatusCode, "the launch ends on the progress page (%s)", resp.Request.URL)
		parts := strings.Split(strings.TrimPrefix(resp.Request.URL.Path, "/hub/spawn-pending/"), "/")
		require.Len(t, parts, 2)
		server := waitForServer(t, c, h.URL, parts[0], parts[1])
		status, _ = get(t, c, server)
		require.Equal(t, http.StatusOK, status)
		out, errText := (&jupyter{t: t, client: c, base: server}).run("print(6*7)")
		require.Empty(t, errText)
		require.Equal(t, "42\n", out)
	}
}
