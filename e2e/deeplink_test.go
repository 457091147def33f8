package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lms"
)

// A teacher adds Labhub from the LMS's activity chooser and picks an image
// of the catalog; a student's launch of the new activity runs that image.
func TestDeepLinkingEndToEnd(t *testing.T) {
	ctx := context.Background()
	cli := testutil.Docker(t)
	chosen := "labhub/notebook:deeplink-" + strings.ToLower(uniqueStudent("").Username)
	require.NoError(t, cli.ImageTag(ctx, testutil.Image(t), chosen))
	t.Cleanup(func() { _, _ = cli.ImageRemove(context.Background(), chosen, image.RemoveOptions{}) })

	e := newEnv(t)
	e.hub.CLI("image", "add", "course-lab", chosen, "--description", "The lab image")
	e.hub.Start()

	teacher := browser(t, e.platform)
	resp, err := teacher.DeepLink(ctx, instructor, course101, e.clientID)
	require.NoError(t, err)
	page := readAll(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	require.Contains(t, page, "The lab image")
	action, fields, err := lms.ParseAutoSubmitForm(strings.NewReader(page))
	require.NoError(t, err)
	fields.Set("title", "Lab with its own image")
	fields.Set("image", "course-lab")
	fields.Set("start", "week1/lab.ipynb")
	fields.Set("points", "10")
	fields.Del("cancel")
	resp, err = teacher.Client.PostForm(e.hub.URL+strings.TrimPrefix(action, "/"), fields)
	require.NoError(t, err)
	page = readAll(t, resp)
	returnURL, response, err := lms.ParseAutoSubmitForm(strings.NewReader(page))
	require.NoError(t, err)
	resp, err = teacher.Client.PostForm(returnURL, response)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, readAll(t, resp))
	added := e.platform.DeepLinked()
	require.Len(t, added, 1)

	student := uniqueStudent("d")
	b := browser(t, e.platform)
	resp, err = b.LaunchLTI13(ctx, student, course101, added[0].Link, e.clientID)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	server := waitForServer(t, b.Client, e.hub.URL, student.Username, "lti101")
	status, body := get(t, b.Client, server) // singleuser's login with the hub
	require.Equal(t, http.StatusOK, status, body)
	status, body = get(t, b.Client, server+"api/status")
	require.Equal(t, http.StatusOK, status, body)
	c, err := cli.ContainerInspect(ctx, e.hub.names.Container(student.Username, "lti101"))
	require.NoError(t, err)
	require.Equal(t, chosen, c.Config.Image, "the activity's image runs")
	require.Contains(t, c.Config.Env, "JUPYTER_IMAGE="+chosen)

}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
