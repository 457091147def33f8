package spawner_test

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/spawner"
)

// loopbackRegistry runs an in-memory registry on 127.0.0.1 until the test
// ends and returns its host:port and a count of manifest requests.
func loopbackRegistry(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var manifests atomic.Int64
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && containsSegment(r.URL.Path, "manifests") {
			manifests.Add(1)
		}
		reg.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), &manifests
}

func containsSegment(p, seg string) bool {
	for i := 0; i+len(seg) <= len(p); i++ {
		if p[i:i+len(seg)] == seg && (i == 0 || p[i-1] == '/') {
			return true
		}
	}
	return false
}

func TestPullFromLoopbackRegistry(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	host, manifests := loopbackRegistry(t)

	// A small image of three random layers, pushed as an LMS administrator
	// would push a course image to their registry.
	img, err := random.Image(256<<10, 3)
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	img, err = mutate.ConfigFile(img, cf)
	require.NoError(t, err)
	ref := host + "/labhub-test/tiny:" + e.prefix
	r, err := name.ParseReference(ref, name.Insecure)
	require.NoError(t, err)
	require.NoError(t, remote.Write(r, img))
	t.Cleanup(func() {
		_, _ = e.cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
	})

	present, err := e.d.ImagePresent(ctx, ref)
	require.NoError(t, err)
	require.False(t, present)

	var seen []spawner.PullProgress
	require.NoError(t, e.d.Pull(ctx, ref, func(p spawner.PullProgress) { seen = append(seen, p) }))
	require.NotEmpty(t, seen)
	last := seen[len(seen)-1]
	require.Equal(t, 3, last.Layers)
	require.Equal(t, 3, last.LayersDone)
	require.Equal(t, 100, last.Percent())
	for i := 1; i < len(seen); i++ {
		require.GreaterOrEqual(t, seen[i].LayersDone, seen[i-1].LayersDone, "layers only complete")
	}
	present, err = e.d.ImagePresent(ctx, ref)
	require.NoError(t, err)
	require.True(t, present)
	require.EqualValues(t, 1, manifests.Load())

	// Pulling again finds everything in place.
	require.NoError(t, e.d.Pull(ctx, ref, nil))

	// A tag the registry does not have fails with the engine's reason.
	err = e.d.Pull(ctx, host+"/labhub-test/tiny:missing-"+e.prefix, nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "missing-"+e.prefix)
}

func TestPullProgressPercent(t *testing.T) {
	for _, tc := range []struct {
		p    spawner.PullProgress
		want int
	}{
		{spawner.PullProgress{}, 0},
		{spawner.PullProgress{Layers: 4, LayersDone: 2}, 50},
		{spawner.PullProgress{Layers: 2, LayersDone: 1, Downloaded: 50, Size: 100}, 72},
		{spawner.PullProgress{Layers: 2, LayersDone: 2}, 100},
	} {
		require.Equal(t, tc.want, tc.p.Percent(), "%+v", tc.p)
	}
}
