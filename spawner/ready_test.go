package spawner_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/spawner"
)

// deadAddr returns a loopback host:port on which nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestWaitReady(t *testing.T) {
	t.Parallel()
	errExited := errors.New("container exited with 1")
	cases := []struct {
		name string
		// statuses are answered in order; the last one repeats. nil means
		// no server at all.
		statuses []int
		// hang makes the server accept requests and never answer.
		hang      bool
		isRunning func(calls *atomic.Int32) func(context.Context) error
		timeout   time.Duration
		wantErr   error
		// wantHits is the number of probes the server must have seen, or
		// -1 when it depends on timing.
		wantHits int32
	}{
		{name: "ready at once", statuses: []int{200}, timeout: 5 * time.Second, wantHits: 1},
		{name: "503 then redirect", statuses: []int{503, 503, 503, 302}, timeout: 10 * time.Second, wantHits: 4},
		{name: "403 is up", statuses: []int{502, 403}, timeout: 5 * time.Second, wantHits: 2},
		{name: "404 is up", statuses: []int{404}, timeout: 5 * time.Second, wantHits: 1},
		{name: "always 500", statuses: []int{500}, timeout: 700 * time.Millisecond, wantErr: context.DeadlineExceeded, wantHits: -1},
		{name: "dead port", timeout: 700 * time.Millisecond, wantErr: context.DeadlineExceeded, wantHits: -1},
		{name: "server never answers", hang: true, timeout: 700 * time.Millisecond, wantErr: context.DeadlineExceeded, wantHits: -1},
		{
			name: "container exits while 503", statuses: []int{503}, timeout: 30 * time.Second,
			isRunning: func(calls *atomic.Int32) func(context.Context) error {
				return func(context.Context) error {
					if calls.Add(1) >= 2 {
						return errExited
					}
					return nil
				}
			},
			wantErr: errExited, wantHits: 6,
		},
		{
			name: "container exits on a dead port", timeout: 30 * time.Second,
			isRunning: func(calls *atomic.Int32) func(context.Context) error {
				return func(context.Context) error { calls.Add(1); return errExited }
			},
			wantErr: errExited, wantHits: -1,
		},
		{
			name: "running check passes", statuses: []int{503, 503, 503, 503, 200}, timeout: 10 * time.Second,
			isRunning: func(calls *atomic.Int32) func(context.Context) error {
				return func(context.Context) error { calls.Add(1); return nil }
			},
			wantHits: 5,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var hits, redirected atomic.Int32
			url := "http://" + deadAddr(t) + "/user/t/c/api"
			if tc.statuses != nil || tc.hang {
				mux := http.NewServeMux()
				mux.HandleFunc("/user/t/c/api", func(w http.ResponseWriter, r *http.Request) {
					n := int(hits.Add(1))
					if tc.hang {
						<-r.Context().Done()
						return
					}
					st := tc.statuses[min(n, len(tc.statuses))-1]
					if st == http.StatusFound {
						w.Header().Set("Location", "/hub/login")
					}
					w.WriteHeader(st)
				})
				mux.HandleFunc("/hub/login", func(http.ResponseWriter, *http.Request) { redirected.Add(1) })
				srv := httptest.NewServer(mux)
				t.Cleanup(srv.Close)
				url = srv.URL + "/user/t/c/api"
			}
			var calls atomic.Int32
			var isRunning func(context.Context) error
			if tc.isRunning != nil {
				isRunning = tc.isRunning(&calls)
			}
			ctx, cancel := context.WithTimeout(t.Context(), tc.timeout)
			defer cancel()
			start := time.Now()
			err := spawner.WaitReady(ctx, nil, url, isRunning)
			elapsed := time.Since(start)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				// Neither a hanging server nor a long backoff may keep it
				// waiting past its context.
				require.Less(t, elapsed, tc.timeout+500*time.Millisecond)
			} else {
				require.NoError(t, err)
			}
			if tc.wantHits >= 0 {
				require.Equal(t, tc.wantHits, hits.Load())
			}
			require.Zero(t, redirected.Load(), "redirects must not be followed")
		})
	}
}

func TestWaitReadyBackoffIsCapped(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var times []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		times = append(times, time.Now())
		if len(times) < 8 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	require.NoError(t, spawner.WaitReady(t.Context(), srv.Client(), srv.URL, nil))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, times, 8)
	// Pauses double from 50 ms (50, 100, 200, 400, 800) and then stay at
	// one second.
	require.Less(t, times[1].Sub(times[0]), 300*time.Millisecond)
	for i := 6; i < len(times); i++ {
		gap := times[i].Sub(times[i-1])
		require.Greater(t, gap, 900*time.Millisecond, "gap %d", i)
		require.Less(t, gap, 1500*time.Millisecond, "gap %d", i)
	}
}

func TestWaitReadyRejectsBadURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"://nohost", "http://[::1", "\x7f"} {
		start := time.Now()
		err := spawner.WaitReady(t.Context(), nil, u, nil)
		require.Error(t, err, u)
		require.Less(t, time.Since(start), time.Second)
	}
}
