package spawner

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

const (
	// firstBackoff and maxBackoff bound the pause between readiness
	// probes: short at first because a server often comes up within a
	// second, never more than a second so a ready server is noticed soon.
	firstBackoff = 50 * time.Millisecond
	maxBackoff   = time.Second
	// probeTimeout bounds one probe, so a server that accepts connections
	// but never answers cannot stop the isRunning checks.
	probeTimeout = 3 * time.Second
	// runningEvery is how many probes pass between isRunning checks.
	runningEvery = 3
)

// WaitReady polls url (a server's base URL, its prefix and "api", such as
// http://172.18.0.5:8888/user/alice/course/api) with GET until it answers
// with any status below 500, and returns nil then. Redirects count as answers
// and are not followed: a server that redirects to a login page is up.
// Failed connections and 5xx answers are retried with an exponential backoff
// capped at one second, until ctx ends.
//
// client nil means http.DefaultClient's settings; its CheckRedirect is
// replaced either way. If isRunning is not nil it is called every few
// probes; an error from it (say, the container exited) ends the wait at once
// and is returned wrapped.
func WaitReady(ctx context.Context, client *http.Client, url string, isRunning func(context.Context) error) error {
	if _, err := http.NewRequest(http.MethodGet, url, nil); err != nil {
		return fmt.Errorf("waiting for %s: %w", url, err)
	}
	c := http.Client{}
	if client != nil {
		c = *client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	var last error
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		status, err := probe(ctx, &c, url)
		if err == nil && status < http.StatusInternalServerError {
			return nil
		}
		last = err
		if err == nil {
			last = fmt.Errorf("status %d", status)
		}
		if isRunning != nil && attempt%runningEvery == 0 {
			if err := isRunning(ctx); err != nil {
				return fmt.Errorf("server stopped while waiting for %s: %w", url, err)
			}
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for %s (last attempt: %v): %w", url, last, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// probe sends one GET to url and returns the status.
func probe(ctx context.Context, c *http.Client, url string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	// Draining a little lets the connection be reused for the next probe.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}
