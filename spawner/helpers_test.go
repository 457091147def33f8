package spawner_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/spawner"
)

// testLabel marks every Docker object a test creates, with the test's name
// as value, so cleanup finds them even when the code under test fails.
const testLabel = "labhub.test"

// TestMain runs the tests, or, inside the container that
// TestConnectSelfInContainer starts, only the helper it needs.
func TestMain(m *testing.M) {
	if os.Getenv(selfHelperEnv) != "" {
		runSelfHelper()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// env is the Docker side of one test: the package under test, a raw client
// for checks and set-up, the notebook image and a private internal network.
type env struct {
	d       *spawner.Docker
	cli     *client.Client
	image   string
	network string
	gateway string
	// prefix makes this test's names unique across concurrent runs.
	prefix string
	// test is the name of the top-level test, the value of testLabel on
	// everything it creates, subtests included.
	test string
}

// newEnv connects to the engine and creates the test's internal network. All
// objects labelled with the test's name are removed when the test ends.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{
		cli:    testutil.Docker(t),
		image:  testutil.Image(t),
		prefix: fmt.Sprintf("t%06x", rand.Uint32()&0xffffff),
		test:   t.Name(),
	}
	cleanupLabeled(t, e.cli)
	e.network = "labhub-test-" + e.prefix
	d, err := spawner.New(spawner.Options{
		Network:     e.network,
		Logger:      slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		CallTimeout: 30 * time.Second,
		Labels:      map[string]string{testLabel: t.Name()},
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, d.Close()) })
	e.d = d
	e.gateway, err = d.EnsureNetwork(t.Context(), "")
	require.NoError(t, err)
	require.NotEmpty(t, e.gateway)
	return e
}

// cleanupLabeled removes, at the end of the test, every container, volume
// and network labelled with the test's name, in that order.
func cleanupLabeled(t *testing.T, cli *client.Client) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		f := filters.NewArgs(filters.Arg("label", testLabel+"="+t.Name()))
		cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		require.NoError(t, err)
		for _, c := range cs {
			require.NoError(t, cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}))
		}
		vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
		require.NoError(t, err)
		for _, v := range vs.Volumes {
			require.NoError(t, cli.VolumeRemove(ctx, v.Name, true))
		}
		ns, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
		require.NoError(t, err)
		for _, n := range ns {
			require.NoError(t, cli.NetworkRemove(ctx, n.ID))
		}
	})
}

// labels returns the caller's labels of a test server.
func (e *env) labels(serverID string) map[string]string {
	return map[string]string{
		testLabel:             e.test,
		spawner.LabelServerID: serverID,
		"labhub.user":         e.prefix,
	}
}

// httpSpec describes a server that answers HTTP on port 8888 with Python's
// file server: a stand-in for a notebook that is ready in a moment.
func (e *env) httpSpec(name, serverID string) spawner.Spec {
	return spawner.Spec{
		Name:   spawner.ContainerName(e.prefix, name),
		Image:  e.image,
		Cmd:    []string{"python3", "-m", "http.server", "8888"},
		Labels: e.labels(serverID),
	}
}

// start starts spec and waits until it answers HTTP.
func (e *env) start(t *testing.T, spec spawner.Spec) spawner.Server {
	t.Helper()
	s, err := e.d.Start(t.Context(), spec)
	require.NoError(t, err)
	e.waitHTTP(t, s)
	return s
}

// waitHTTP waits until the server answers at its URL.
func (e *env) waitHTTP(t *testing.T, s spawner.Server) {
	t.Helper()
	require.True(t, s.Running)
	require.NotEmpty(t, s.URL)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	err := spawner.WaitReady(ctx, nil, s.URL+"/", func(ctx context.Context) error {
		return e.d.CheckRunning(ctx, s.ID)
	})
	if err != nil {
		logs, _ := e.d.Logs(context.Background(), s.ID, 20)
		t.Fatalf("server %s not ready: %v\nlogs:\n%s", s.Name, err, logs)
	}
}

// exec runs cmd in the container id as user and returns its combined output
// and exit code.
func (e *env) exec(t *testing.T, id, user string, cmd ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	ex, err := e.cli.ContainerExecCreate(ctx, id, container.ExecOptions{
		User: user, Cmd: cmd, AttachStdout: true, AttachStderr: true,
	})
	require.NoError(t, err)
	att, err := e.cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	require.NoError(t, err)
	defer att.Close()
	var out bytes.Buffer
	_, err = stdcopy.StdCopy(&out, &out, att.Reader)
	require.NoError(t, err)
	ins, err := e.cli.ContainerExecInspect(ctx, ex.ID)
	require.NoError(t, err)
	require.False(t, ins.Running)
	return strings.TrimSpace(out.String()), ins.ExitCode
}

// waitExited polls until the container nameOrID no longer runs.
func (e *env) waitExited(t *testing.T, nameOrID string) spawner.Server {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := e.d.Inspect(t.Context(), nameOrID, "")
		require.NoError(t, err)
		if !s.Running && s.State == "exited" {
			return s
		}
		require.True(t, time.Now().Before(deadline), "container %s still %s", nameOrID, s.State)
		time.Sleep(100 * time.Millisecond)
	}
}
