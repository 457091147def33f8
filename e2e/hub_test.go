package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// labhubBin is the command under test, built once by TestMain.
var labhubBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "labhub-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	labhubBin = filepath.Join(dir, "labhub")
	build := exec.Command("go", "build", "-o", labhubBin, "../cmd/labhub")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build labhub:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a process's output for the test log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hub is a labhub process under test.
type hub struct {
	t       *testing.T
	dir     string
	URL     string
	listen  string
	network string
	extra   []string
	// extraEnv is added to the environment of serve.
	extraEnv []string
	// names builds the names of this hub's containers and volumes.
	names spawner.Names
	// hubPort is the port of the hub API for containers of the last start.
	hubPort int
	cmd     *exec.Cmd
	done    chan struct{}
	logs    *syncBuffer
	// client reaches the hub; it trusts the test CA when the hub serves
	// HTTPS.
	client *http.Client
	// health, when set, is the URL that tells the hub is up.
	health string
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// newHub prepares a hub with its own data directory, port and Docker
// network; extra flags go to serve. It does not start it.
func newHub(t *testing.T, extra ...string) *hub {
	testutil.Image(t)
	port := freePort(t)
	h := &hub{t: t, dir: t.TempDir(), listen: "127.0.0.1:" + strconv.Itoa(port),
		network: fmt.Sprintf("labhub-e2e-%d-%d", os.Getpid(), port), extra: extra,
		// Names are global on the engine: a prefix of its own keeps this
		// hub's containers and volumes apart from any other hub's.
		names: spawner.Names{Prefix: fmt.Sprintf("t%d%d", os.Getpid()%100000, port)}}
	h.URL = "http://" + h.listen + "/"
	h.client = http.DefaultClient
	t.Cleanup(h.cleanup)
	return h
}

// CLI runs a labhub subcommand against the hub's data directory.
func (h *hub) CLI(args ...string) string {
	h.t.Helper()
	cmd := exec.Command(labhubBin, append(args, "--data-dir", h.dir)...)
	cmd.Env = h.env()
	out, err := cmd.CombinedOutput()
	require.NoError(h.t, err, "labhub %s: %s", strings.Join(args, " "), out)
	return string(out)
}

func (h *hub) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LABHUB_") && !strings.HasPrefix(kv, "LTI_") && !strings.HasPrefix(kv, "DOCKER_") {
			env = append(env, kv)
		}
	}
	return env
}

// Start runs labhub serve and waits until it answers.
func (h *hub) Start() {
	h.t.Helper()
	h.startCommand("serve")
}

// startCommand runs a serving subcommand (serve or demo) and waits until it
// answers.
func (h *hub) startCommand(sub string) {
	h.t.Helper()
	h.hubPort = freePort(h.t)
	args := append([]string{sub, "--data-dir", h.dir, "--listen", h.listen, "--network", h.network,
		"--hub-port", strconv.Itoa(h.hubPort), "--image", testutil.Image(h.t), "--log-level", "debug",
		"--name-prefix", h.names.Prefix,
		"--mem-limit", "512M", "--spawn-timeout", "90s"}, h.extra...)
	h.cmd = exec.Command(labhubBin, args...)
	h.cmd.Env = append(h.env(), h.extraEnv...)
	if h.logs == nil {
		h.logs = &syncBuffer{}
	}
	h.cmd.Stdout, h.cmd.Stderr = h.logs, h.logs
	require.NoError(h.t, h.cmd.Start())
	h.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(h.cmd, h.done)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-h.done:
			h.t.Fatalf("labhub exited at start:\n%s", h.logs)
		default:
		}
		// A hub behind a front answers on its own listener before the
		// front does.
		health := h.URL + "healthz"
		if !strings.HasPrefix(h.URL, "https://"+h.listen) {
			health = "http://" + h.listen + "/healthz"
		}
		if h.health != "" {
			health = h.health
		}
		resp, err := h.client.Get(health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("labhub did not answer within a minute:\n%s", h.logs)
}

// Stop ends the process with sig and waits for it.
func (h *hub) Stop(sig syscall.Signal) {
	if h.cmd == nil || h.cmd.Process == nil {
		return
	}
	_ = h.cmd.Process.Signal(sig)
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
	}
	h.cmd = nil
}

// instance reads the hub's instance id, which labels all its containers.
func (h *hub) instance() string {
	db, err := store.Open(context.Background(), "", h.dir, nil)
	if err != nil {
		return ""
	}
	defer db.Close()
	var s store.Setting
	if err := db.Where("key = ?", "instance_id").First(&s).Error; err != nil {
		return ""
	}
	return s.Value
}

// cleanup stops the hub and removes every container, volume and network it
// made.
func (h *hub) cleanup() {
	h.Stop(syscall.SIGTERM)
	if h.t.Failed() && h.logs != nil {
		h.t.Logf("labhub log:\n%s", h.logs)
	}
	cli := testutil.Docker(h.t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if id := h.instance(); id != "" {
		f := filters.NewArgs(filters.Arg("label", "labhub.instance="+id))
		cs, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		for _, c := range cs {
			_ = cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
		vs, _ := cli.VolumeList(ctx, volume.ListOptions{Filters: f})
		for _, v := range vs.Volumes {
			_ = cli.VolumeRemove(ctx, v.Name, true)
		}
		ns, _ := cli.NetworkList(ctx, network.ListOptions{Filters: f})
		for _, n := range ns {
			_ = cli.NetworkRemove(ctx, n.ID)
		}
	}
	_ = cli.NetworkRemove(ctx, h.network)
}

// get fetches a URL with client and returns status and body.
func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// mustHome is the name of a user's home volume under names.
func mustHome(t *testing.T, names spawner.Names, user, server string) string {
	t.Helper()
	v, err := names.Home(user, server)
	require.NoError(t, err)
	return v
}
