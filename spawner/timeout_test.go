package spawner_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/spawner"
)

// wedgedEngine serves a Docker engine that answers pings and then hangs on
// every other call, as an engine stuck on a lock does, and points the
// environment at it.
func wedgedEngine(t *testing.T, pingHangs bool) {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_ping") && !pingHangs {
			w.Header().Set("Api-Version", "1.41")
			w.Header().Set("Ostype", "linux")
			w.Write([]byte("OK"))
			return
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	t.Setenv("DOCKER_HOST", "tcp://"+srv.Listener.Addr().String())
	t.Setenv("DOCKER_API_VERSION", "")
	t.Setenv("DOCKER_TLS_VERIFY", "")
	t.Setenv("DOCKER_CERT_PATH", "")
}

func TestWedgedEngineDoesNotWedgeCallers(t *testing.T) {
	wedgedEngine(t, false)
	const callTimeout = 300 * time.Millisecond
	d, err := spawner.New(spawner.Options{Network: "labhub-test-wedged", CallTimeout: callTimeout})
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })

	spec := spawner.Spec{Name: "labhub-x--y", Image: "labhub/notebook:bookworm"}
	cases := []struct {
		name string
		call func(context.Context) error
	}{
		{"Start", func(ctx context.Context) error { _, err := d.Start(ctx, spec); return err }},
		{"Stop", func(ctx context.Context) error { return d.Stop(ctx, spec.Name, 0) }},
		{"Inspect", func(ctx context.Context) error { _, err := d.Inspect(ctx, spec.Name, ""); return err }},
		{"List", func(ctx context.Context) error { _, err := d.List(ctx, nil, ""); return err }},
		{"CheckRunning", func(ctx context.Context) error { return d.CheckRunning(ctx, spec.Name) }},
		{"EnsureNetwork", func(ctx context.Context) error { _, err := d.EnsureNetwork(ctx, ""); return err }},
		{"EnsureVolume", func(ctx context.Context) error {
			_, err := d.EnsureVolume(ctx, "labhub-home-x--y", nil, "1000:100", spec.Image)
			return err
		}},
		{"RemoveVolume", func(ctx context.Context) error { return d.RemoveVolume(ctx, "labhub-home-x--y") }},
		{"ImagePresent", func(ctx context.Context) error { _, err := d.ImagePresent(ctx, spec.Image); return err }},
		{"MemoryUsage", func(ctx context.Context) error { _, err := d.MemoryUsage(ctx, spec.Name); return err }},
		{"Logs", func(ctx context.Context) error { _, err := d.Logs(ctx, spec.Name, 10); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := tc.call(t.Context())
			took := time.Since(start)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.GreaterOrEqual(t, took, callTimeout)
			require.Less(t, took, 3*callTimeout)
		})
	}
}

func TestNewFailsWithoutEngine(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T)
	}{
		{"ping hangs", func(t *testing.T) { wedgedEngine(t, true) }},
		{"nothing listens", func(t *testing.T) {
			t.Setenv("DOCKER_HOST", "tcp://"+deadAddr(t))
		}},
		{"missing socket", func(t *testing.T) {
			t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/docker.sock")
		}},
		{"bad host", func(t *testing.T) { t.Setenv("DOCKER_HOST", "gopher://x") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup(t)
			start := time.Now()
			d, err := spawner.New(spawner.Options{CallTimeout: 300 * time.Millisecond})
			require.Error(t, err)
			require.Nil(t, d)
			require.Less(t, time.Since(start), 2*time.Second)
		})
	}
}
