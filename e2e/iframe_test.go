package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lms"
)

// frameTarget waits for a target of the type typ (a cross-site "iframe", or
// a "page") whose URL starts with prefix, and returns a context that runs
// actions in it.
func frameTarget(t *testing.T, ctx context.Context, typ, prefix string, within time.Duration) context.Context {
	t.Helper()
	deadline := time.Now().Add(within)
	var seen []string
	for time.Now().Before(deadline) {
		infos, err := chromedp.Targets(ctx)
		require.NoError(t, err)
		seen = seen[:0]
		for _, info := range infos {
			seen = append(seen, info.Type+" "+info.URL)
			if info.Type == typ && strings.HasPrefix(info.URL, prefix) {
				fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(info.TargetID), chromedp.WithDetachOnCancel())
				t.Cleanup(cancel)
				return fctx
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no %s at %s within %s; targets: %v", typ, prefix, within, seen)
	return nil
}

// clickInFrame clicks the element sel once it is visible in the
// cross-site iframe at prefix. The iframe may still be on its way (a page
// that posts itself on); Chrome may then replace its target, and the
// search starts again.
func clickInFrame(t *testing.T, ctx context.Context, prefix, sel string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		frame := frameTarget(t, ctx, "iframe", prefix, time.Until(deadline))
		step, cancel := context.WithTimeout(frame, 5*time.Second)
		last = chromedp.Do(step, chromedp.WaitVisible(sel), chromedp.Click(sel))
		cancel()
		if last == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("could not click %s in the iframe at %s: %v", sel, prefix, last)
}

// runKernel runs print(6*7) on a new kernel of the notebook server the
// page of ctx shows, through the server's REST API and kernel websocket,
// with the browser's own cookies, and returns the output.
func runKernel(t *testing.T, ctx context.Context) string {
	t.Helper()
	const js = `(async () => {
  const base = location.pathname.replace(/(tree|lab|notebooks).*$/, "");
  const xsrf = decodeURIComponent((document.cookie.match(/(?:^|; )_xsrf=([^;]+)/) || [])[1] || "");
  const r = await fetch(base + "api/kernels", {method: "POST", credentials: "same-origin",
    headers: {"X-XSRFToken": xsrf, "Content-Type": "application/json"}, body: "{}"});
  if (!r.ok) { throw new Error("start kernel: HTTP " + r.status); }
  const k = await r.json();
  return await new Promise((resolve, reject) => {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + base +
      "api/kernels/" + k.id + "/channels");
    const id = "m" + Date.now();
    const timer = setTimeout(() => reject(new Error("no output")), 60000);
    ws.onopen = () => ws.send(JSON.stringify({header: {msg_id: id, username: "", session: "s" + id,
      msg_type: "execute_request", version: "5.3"}, parent_header: {}, metadata: {}, channel: "shell",
      content: {code: "print(6*7)", silent: false, store_history: false, user_expressions: {}, allow_stdin: false}}));
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.parent_header && m.parent_header.msg_id === id && m.msg_type === "stream") {
        clearTimeout(timer); ws.close(); resolve(m.content.text);
      }
    };
    ws.onerror = () => reject(new Error("websocket failed"));
  });
})()`
	step, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	out, err := chromedp.Run(step, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	return out
}

// uniqueStudent returns a student whose username no other test's uses:
// container names are global on the engine, and other suites may run at
// the same time.
func uniqueStudent(prefix string) lms.User {
	id := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000_000)
	return lms.User{ID: "9" + id, Username: "ifr" + prefix + id, GivenName: "Iris", FamilyName: "Frame",
		Roles: []string{lms.RoleLearner}}
}

// A student opens the activity inside the course page of an LMS on another
// site, over HTTPS, in a browser that blocks third-party cookies: the LTI
// 1.3 launch, the progress page and the notebook (its login with the hub,
// its API and a kernel) all run inside the LMS's iframe, because Labhub's
// and the notebook's cookies are partitioned and the LMS may frame them.
func TestIframeLaunchOverHTTPSInChromium(t *testing.T) {
	certs := newTestCerts(t)
	h := newHub(t)
	h.useTLS(certs)
	p, srv := newLMSAt(t, lms.Options{}, certs)
	clientID := lms.NewClientID()
	h.register(p, srv, clientID)
	h.Start()
	require.NotEqual(t, strings.Split(srv.URL, ":")[1], strings.Split(h.URL, ":")[1], "two sites")

	ctx := testutil.Chrome(t, chromedp.Flag("ignore-certificate-errors-spki-list", certs.spki))
	_, err := chromedp.Call(ctx, network.SetCookieControls,
		network.SetCookieControlsParams{EnableThirdPartyCookieRestriction: true})
	require.NoError(t, err)
	student := uniqueStudent("s")
	embed, err := p.EmbedURL(student, course101, lab1, clientID)
	require.NoError(t, err)
	// The page's load event waits for the iframe, which goes on through
	// the launch; so the navigation does not wait for it.
	_, err = chromedp.Call(ctx, page.Navigate, page.NavigateParams{URL: embed})
	require.NoError(t, err)
	frame := frameTarget(t, ctx, "iframe", h.URL+"user/"+student.Username+"/lti101/", 120*time.Second)
	location, err := chromedp.Run(ctx, chromedp.Evaluate[string]("location.href"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(location, srv.URL+"/mod/lti/view.php"), "the page is the LMS's: %s", location)
	step, cancel := context.WithTimeout(frame, 60*time.Second)
	defer cancel()

	require.NoError(t, chromedp.Do(step, chromedp.WaitVisible(`#notebook_list`)))
	require.NoError(t, chromedp.Do(step, chromedp.WaitVisible(`//a[contains(@href, "/tree/shared")]`)),
		"the file list came through the server's API")
	require.Equal(t, "42\n", runKernel(t, frame))
	location, err = chromedp.Run(ctx, chromedp.Evaluate[string]("location.href"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(location, srv.URL+"/mod/lti/view.php"), "still inside the LMS page")
}

// Over plain HTTP a browser keeps no Labhub cookie inside the page of an LMS
// on another site. Moodle offers no platform storage: the launch continues
// in a new tab from the button of Labhub's page. Canvas (a storage frame in
// the course page) and Sakai (the course page itself) offer platform
// storage: the state comes back from it, and a one-time ticket opens the
// notebook in a new tab.
func TestIframeFallbacksInChromium(t *testing.T) {
	h := newHub(t)
	moodle, moodleSrv := newLMSAt(t, lms.Options{}, nil)
	canvas, canvasSrv := newLMSAt(t, lms.Options{StorageTarget: "post_message_forwarding",
		LoginDeploymentParam: "deployment_id"}, nil)
	sakai, sakaiSrv := newLMSAt(t, lms.Options{StorageTarget: "_parent"}, nil)
	moodleClient, canvasClient, sakaiClient := lms.NewClientID(), lms.NewClientID(), lms.NewClientID()
	h.register(moodle, moodleSrv, moodleClient)
	h.register(canvas, canvasSrv, canvasClient)
	h.register(sakai, sakaiSrv, sakaiClient)
	h.Start()
	ctx := testutil.Chrome(t)

	for _, tc := range []struct {
		name     string
		platform *lms.Platform
		client   string
		user     lms.User
		course   string
	}{
		{"moodle: new tab", moodle, moodleClient, uniqueStudent("m"), "lti101"},
		{"canvas: platform storage", canvas, canvasClient, uniqueStudent("c"), "lti101-2"},
		{"sakai: platform storage in the parent page", sakai, sakaiClient, uniqueStudent("k"), "lti101-3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			embed, err := tc.platform.EmbedURL(tc.user, course101, lab1, tc.client)
			require.NoError(t, err)
			newTab := chromedp.WaitNewTarget(ctx, func(i *target.Info) bool {
				return i.Type == "page" && strings.HasPrefix(i.URL, h.URL)
			})
			_, err = chromedp.Call(ctx, page.Navigate, page.NavigateParams{URL: embed})
			require.NoError(t, err)
			clickInFrame(t, ctx, h.URL+"lti/launch", `#newtab-button`, 60*time.Second)

			var id target.ID
			select {
			case id = <-newTab:
			case <-time.After(30 * time.Second):
				t.Fatal("no new tab opened")
			}
			tab, tcancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
			defer tcancel()
			prefix := h.URL + "user/" + tc.user.Username + "/" + tc.course + "/"
			deadline := time.Now().Add(120 * time.Second)
			var location string
			for time.Now().Before(deadline) {
				location, err = chromedp.Run(tab, chromedp.Location())
				require.NoError(t, err)
				if strings.HasPrefix(location, prefix) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			require.True(t, strings.HasPrefix(location, prefix), "the new tab reached the notebook: %s", location)
			tstep, tscancel := context.WithTimeout(tab, 60*time.Second)
			defer tscancel()
			require.NoError(t, chromedp.Do(tstep, chromedp.WaitVisible(`#notebook_list`)))
			require.Equal(t, "42\n", runKernel(t, tab))
		})
	}
	require.Equal(t, 2, strings.Count(h.logs.String(), "accepted launch without cookies"),
		"the Canvas and Sakai launches were tied to the browser by platform storage")
}
