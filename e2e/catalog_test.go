package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lms"
)

// An administrator builds the catalog in the console, the first instructor
// launch lands on the course page where the image is chosen, and the first
// student start pulls it from a registry (on the loopback interface) with
// progress on the spawn page; the pages run in headless Chromium.
func TestCatalogAndCoursePageInChromium(t *testing.T) {
	host := startRegistry(t)
	refA := fmt.Sprintf("%s/labhub-e2e/tiny:%d", host, os.Getpid())
	refB := fmt.Sprintf("%s/labhub-e2e/tiny-b:%d", host, os.Getpid())
	pushTinyServer(t, refA)
	pushTinyServer(t, refB)
	// No site default: courses wait for their instructor's choice.
	e := newEnv(t, "--image", "")
	e.hub.Start()
	cli := testutil.Docker(t)

	// Someone launching before any choice sees a clear waiting page.
	admin := lms.User{ID: "9", Username: "siteadmin", GivenName: "Ada", FamilyName: "Admin", Roles: []string{lms.RoleLearner}}
	adminB := browser(t, e.platform)
	status, loc := e.launchTo(t, adminB, admin, lms.Course{ID: "7", Label: "OPS", Title: "Operations"}, lms.Link{ID: "70", Title: "Ops lab"})
	require.Equal(t, http.StatusConflict, status, loc)
	e.hub.CLI("user", "add", "siteadmin", "--admin")

	ctx := testutil.Chrome(t)
	step := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		require.NoError(t, chromedp.Do(sctx, actions...))
	}
	// poll reloads url until the text of sel is want.
	poll := func(url, sel, want string, d time.Duration) {
		t.Helper()
		var got string
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := chromedp.Do(sctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(sel)))
			if err == nil {
				got, err = chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
			}
			cancel()
			if err == nil && strings.TrimSpace(got) == want {
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
		t.Fatalf("%s of %s is %q, not %q", sel, url, got, want)
	}
	text := func(sel string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err)
		return s
	}

	// The admin console: add two images, both missing on the engine. Each
	// form starts from a fresh page, so the notice waited for is the new
	// one.
	consoleURL := e.hub.URL + "hub/admin/images"
	step(useSession(e.hub.URL, sessionCookie(t, adminB, e.hub.URL)))
	for _, img := range []struct{ name, ref, desc string }{{"tiny", refA, "Tiny server"}, {"tiny-b", refB, "Second tiny"}} {
		step(chromedp.Navigate(consoleURL), chromedp.WaitVisible(chromedp.CSS("#add-image")),
			chromedp.SetValue(chromedp.CSS("#name"), img.name), chromedp.SetValue(chromedp.CSS("#ref"), img.ref),
			chromedp.SetValue(chromedp.CSS("#description"), img.desc), chromedp.SetValue(chromedp.CSS("#mem_default"), "128M"),
			chromedp.SetValue(chromedp.CSS("#mem_max"), "256M"), chromedp.Click(chromedp.CSS("#save-image")),
			chromedp.WaitVisible(chromedp.CSS("#notice")))
	}
	table := text("#images")
	require.Contains(t, table, refA)
	require.Contains(t, table, "128M / max 256M")
	require.Equal(t, "missing", text(`tr[data-name="tiny"] .presence`))
	// Pulling the second image from the console.
	step(chromedp.Navigate(consoleURL), chromedp.WaitVisible(chromedp.CSS("#images")),
		chromedp.Click(chromedp.CSS(`tr[data-name="tiny-b"] button.pull`)), chromedp.WaitVisible(chromedp.CSS("#notice")))
	poll(e.hub.URL+"hub/admin/images", `tr[data-name="tiny-b"] .presence`, "present", 60*time.Second)
	_, err := cli.ImageInspect(context.Background(), refB)
	require.NoError(t, err, "the engine has the pulled image")

	// The first instructor launch of the course lands on its page.
	teacher := browser(t, e.platform)
	status, loc = e.launchTo(t, teacher, instructor, course101, lab1)
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/hub/courses/lti101/?choose=1", loc)
	step(useSession(e.hub.URL, sessionCookie(t, teacher, e.hub.URL)), chromedp.Navigate(e.hub.URL+strings.TrimPrefix(loc, "/")),
		chromedp.WaitVisible(chromedp.CSS("#choose")))
	var tinyID string
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	tinyID, err = chromedp.Run(sctx, chromedp.Evaluate[string](
		`Array.from(document.querySelectorAll("#image option")).find(o => o.textContent.startsWith("tiny:")).value`))
	cancel()
	require.NoError(t, err)
	step(chromedp.SetValue(chromedp.CSS("#image"), tinyID), chromedp.SetValue(chromedp.CSS("#mem"), "200M"),
		chromedp.Click(chromedp.CSS(`input[name=network][value=course]`)), chromedp.Click(chromedp.CSS("#save")),
		chromedp.WaitVisible(chromedp.CSS("#notice")))
	require.Equal(t, refA, text("#current-image"))
	require.Equal(t, "200M", text("#current-memory"))
	// Outside access is not offered on this site.
	sctx, cancel = context.WithTimeout(ctx, 10*time.Second)
	disabled, err := chromedp.Run(sctx, chromedp.Evaluate[bool](`document.querySelector("input[value=outside]").disabled`))
	cancel()
	require.NoError(t, err)
	require.True(t, disabled)

	// A student's start downloads the course image once, with progress.
	_, err = cli.ImageInspect(context.Background(), refA)
	require.Error(t, err, "not pulled yet")
	alice := browser(t, e.platform)
	status, loc = e.launchTo(t, alice, student1, course101, lab1)
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/hub/spawn-pending/student1/lti101", loc)
	msgs, ready := progressEvents(t, alice.Client, e.hub.URL, "student1", "lti101")
	require.True(t, ready, "%v", msgs)
	require.Contains(t, strings.Join(msgs, "\n"), "Downloading the course's image")
	status, body := get(t, alice.Client, e.hub.URL+"user/student1/lti101/")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "tiny server of student1\n", body)
	raw, err := cli.ContainerInspect(context.Background(), e.hub.names.Container("student1", "lti101"))
	require.NoError(t, err)
	require.EqualValues(t, 200<<20, raw.HostConfig.Memory, "the course's memory choice")
	require.Contains(t, raw.NetworkSettings.Networks, e.hub.network+"-course-lti101")

	// The course page lists the server; the instructor stops and starts it.
	pageURL := e.hub.URL + "hub/courses/lti101/"
	step(chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.CSS("#servers")))
	row := `tr[data-user="student1"]`
	require.Equal(t, "running", strings.TrimSpace(text(row+" .state")))
	require.Contains(t, text(row), refA)
	require.Contains(t, text(row+" .memory"), "MiB")
	step(chromedp.Click(chromedp.CSS(row+" button.stop")), chromedp.WaitVisible(chromedp.CSS("#notice")))
	require.Equal(t, "stopped", strings.TrimSpace(text(row+" .state")))
	step(chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.CSS(row+" button.start")),
		chromedp.Click(chromedp.CSS(row+" button.start")), chromedp.WaitVisible(chromedp.CSS("#notice")))
	poll(pageURL, row+" .state", "running", 30*time.Second)
	audit := text("#audit")
	require.Contains(t, audit, "server.start")
	require.Contains(t, audit, "server.stop")
	require.Contains(t, audit, "course.settings")
}
