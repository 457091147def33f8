package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/store"
)

var teacherUser = lms.User{ID: "3", Username: "teacher1", GivenName: "Terry", FamilyName: "Teacher",
	Roles: []string{lms.RoleInstructor}}

// pickerFields reads the picker form of a page.
func pickerFields(t *testing.T, body string) (string, url.Values) {
	t.Helper()
	action, fields, err := lms.ParseAutoSubmitForm(strings.NewReader(body))
	require.NoError(t, err)
	return action, fields
}

// submit posts the picker with the given choices.
func submit(t *testing.T, c *http.Client, u string, fields url.Values, set map[string]string) (int, string) {
	t.Helper()
	f := url.Values{}
	for k, v := range fields {
		f[k] = v
	}
	f.Del("cancel")
	for k, v := range set {
		f.Set(k, v)
	}
	resp, err := c.PostForm(u, f)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A teacher adds Labhub from Moodle's activity chooser: the picker offers
// the catalog, the choice comes back in a signed LtiDeepLinkingResponse,
// Moodle creates the activity, and a student's launch of it runs the
// chosen image.
func TestDeepLinking(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	require.NoError(t, h.db.Create(&store.Image{Name: "scipy", Ref: "quay.io/jupyter/scipy-notebook:2024-12-02",
		Description: "SciPy stack"}).Error)
	require.NoError(t, h.db.Create(&store.Image{Name: "r", Ref: "quay.io/jupyter/r-notebook:2024-12-02"}).Error)

	b := h.browser()
	resp, err := b.DeepLink(ctx, teacherUser, crs, h.clientID)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	page := string(body)
	require.Contains(t, page, "Add a Labhub activity")
	require.Contains(t, page, "SciPy stack")
	require.Contains(t, page, `value="r"`)
	action, fields := pickerFields(t, page)
	require.Equal(t, "/lti/deep-link", action)
	pick := h.hub.URL + action

	// The teacher is known now, with the course.
	var teacher store.User
	require.NoError(t, h.db.Where("name = ?", "teacher1").First(&teacher).Error)

	// Mistakes are shown on the picker, not sent to the LMS.
	for _, bad := range []map[string]string{
		{"title": "Lab", "start": "../../etc/passwd"},
		{"title": "Lab", "start": "/home/jovyan/x.ipynb"},
		{"title": "", "start": ""},
		{"title": "Lab", "image": "not-in-catalog"},
		{"title": "Lab", "points": "-3"},
		{"title": "Lab", "points": "many"},
	} {
		status, page := submit(t, b.Client, pick, fields, bad)
		require.Equal(t, http.StatusBadRequest, status, "%v", bad)
		require.Contains(t, page, `role="alert"`)
		require.Contains(t, page, `name="request"`, "the picker is shown again")
	}
	status, page := submit(t, b.Client, pick, fields, map[string]string{"request": fields.Get("request") + "x"})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, page, "This form has expired")

	status, page = submit(t, b.Client, pick, fields, map[string]string{
		"title": "Week 1 lab", "image": "scipy", "start": "./week1//lab.ipynb", "points": "10"})
	require.Equal(t, http.StatusOK, status, page)
	returnURL, response := pickerFields(t, page)
	require.True(t, strings.HasPrefix(returnURL, h.lmsURL+"/mod/lti/contentitem_return.php?course=2&id=1&sesskey="))
	require.NotEmpty(t, response.Get("JWT"))

	// The browser posts the response to Moodle, which checks it and creates
	// the activity.
	resp, err = b.Client.PostForm(returnURL, response)
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	added := h.platform.DeepLinked()
	require.Len(t, added, 1)
	require.False(t, added[0].Detached, "no url: the activity stays linked to Labhub's registration")
	require.Empty(t, added[0].URL)
	require.Equal(t, "Week 1 lab", added[0].Link.Title)
	require.Equal(t, map[string]string{"labhub_image": "scipy", "labhub_start": "week1/lab.ipynb"}, added[0].Link.Custom)
	require.True(t, added[0].Link.LineItem)
	require.Equal(t, 10.0, added[0].Link.ScoreMaximum)

	// A student launches the new activity: Labhub records the choice and
	// asks the engine for the chosen image.
	resp, err = h.browser().LaunchLTI13(ctx, learner, crs, added[0].Link, h.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	h.settle()
	var a store.Activity
	require.NoError(t, h.db.Where("resource_link_id = ?", added[0].Link.ID).First(&a).Error)
	require.Equal(t, "scipy", a.Image)
	require.Equal(t, "week1/lab.ipynb", a.StartPath)
	require.Contains(t, h.docker.Images(), "quay.io/jupyter/scipy-notebook:2024-12-02")

	// Cancel returns no item; Moodle then adds nothing.
	resp, err = b.DeepLink(ctx, teacherUser, crs, h.clientID)
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	_, fields = pickerFields(t, string(body))
	fields.Set("cancel", "1")
	resp, err = b.Client.PostForm(pick, fields)
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	returnURL, response = pickerFields(t, string(body))
	resp, err = b.Client.PostForm(returnURL, response)
	require.NoError(t, err)
	resp.Body.Close()
	require.Len(t, h.platform.DeepLinked(), 1)
}

// Adding activities is for teachers.
func TestDeepLinkingByAStudent(t *testing.T) {
	h := newHarness(t)
	before, calls := h.counts(), h.docker.Calls()
	resp, err := h.browser().DeepLink(context.Background(), learner, crs, h.clientID)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	h.expectRejected(t, resp.StatusCode, string(body), before, calls, "not_teacher")
	require.Contains(t, string(body), "Only teachers can add Labhub activities")
}

// A deep linking request without sub (some platforms leave it out there)
// still gets the picker; nobody is recorded.
func TestDeepLinkingWithoutSub(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	action, form, err := h.platform.DeepLinkingInitiation(teacherUser, crs, h.clientID)
	require.NoError(t, err)
	resp, err := c.PostForm(action, form)
	require.NoError(t, err)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	claims, err := h.platform.DeepLinkingClaims(teacherUser, crs, h.clientID, loc.Query().Get("nonce"))
	require.NoError(t, err)
	delete(claims, "sub")
	before := h.counts()
	status, body, _ := post(t, c, h.hub.URL+"/lti/launch", url.Values{"id_token": {h.sign(claims)},
		"state": {loc.Query().Get("state")}})
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "Add a Labhub activity")
	after := h.counts()
	before["nonces"]++
	require.Equal(t, before, after, "only the nonce is recorded")
}
