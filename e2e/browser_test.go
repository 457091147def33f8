package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
)

// In a real browser the demo's button goes through the LTI 1.3 launch,
// the progress page's server-sent events move it on by themselves, and the
// notebook UI opens.
func TestDemoInChromium(t *testing.T) {
	h := newHub(t)
	h.startCommand("demo")
	ctx := testutil.Chrome(t)
	step, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(step,
		chromedp.Navigate(h.URL+"demo/"),
		chromedp.WaitVisible(`//button[contains(., "Launch as student")]`),
		chromedp.Click(`//button[contains(., "Launch as student")]`),
	))
	var location string
	var err error
	progressSeen := false
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		location, err = chromedp.Run(ctx, chromedp.Location())
		require.NoError(t, err)
		if strings.Contains(location, "/hub/spawn-pending/") {
			progressSeen = true
		}
		if strings.Contains(location, "/user/demo-student/") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.True(t, progressSeen, "the launch showed the progress page")
	require.Contains(t, location, "/user/demo-student/", "the progress page moved on to the notebook by itself")
	step, cancel = context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(step, chromedp.WaitVisible(chromedp.CSS(`#notebook_list`))))
	title, err := chromedp.Run(ctx, chromedp.Title())
	require.NoError(t, err)
	t.Logf("notebook page %s titled %q", location, title)
}
