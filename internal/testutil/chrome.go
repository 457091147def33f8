package testutil

import (
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chrome returns a chromedp context backed by a fresh headless Chromium
// (Debian's /usr/bin/chromium, or $LABHUB_TEST_CHROMIUM) with an empty
// profile; the browser is closed when the test ends. Chromium is started
// with background networking off, so it talks only to the pages a test
// opens. Bound single steps with a context.WithTimeout derived from the
// returned context: a deadline on the context itself would stop the
// browser.
func Chrome(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := os.Getenv("LABHUB_TEST_CHROMIUM")
	if path == "" {
		path = LookPath(t, "chromium")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-pings", true),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}
