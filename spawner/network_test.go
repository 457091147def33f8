package spawner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/spawner"
)

// serveOn answers HTTP with body on addr (host:0) until the test ends and
// returns the port.
func serveOn(t *testing.T, host string, handler http.Handler) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	require.NoError(t, err)
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// probeScript tries a TCP connection to each host:port argument and prints
// one JSON object per target: whether it connected, and what it read after
// sending an HTTP request, or the error.
const probeScript = `
import json, socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    res = {"target": target, "ok": False}
    try:
        s = socket.create_connection((host, int(port)), timeout=2)
        s.settimeout(2)
        s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        res["ok"] = True
        res["answer"] = s.recv(4096).decode(errors="replace")
        s.close()
    except OSError as e:
        res["error"] = str(e)
    print(json.dumps(res), flush=True)
`

type probeResult struct {
	Target string `json:"target"`
	OK     bool   `json:"ok"`
	Answer string `json:"answer"`
	Error  string `json:"error"`
}

func TestNetworkIsolation(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	// The network as created.
	n, err := e.cli.NetworkInspect(ctx, e.network, network.InspectOptions{})
	require.NoError(t, err)
	require.Equal(t, "bridge", n.Driver)
	require.True(t, n.Internal)
	require.Equal(t, "false", n.Options["com.docker.network.bridge.enable_icc"])
	require.Equal(t, "true", n.Labels[spawner.LabelManaged])
	again, err := e.d.EnsureNetwork(ctx, e.network)
	require.NoError(t, err)
	require.Equal(t, e.gateway, again)

	// A second, ordinary network, as an older deployment might have: it is
	// used as it is.
	open := e.network + "-open"
	_, err = e.cli.NetworkCreate(ctx, open, network.CreateOptions{
		Driver: "bridge", Labels: map[string]string{testLabel: e.test},
	})
	require.NoError(t, err)
	openGateway, err := e.d.EnsureNetwork(ctx, open)
	require.NoError(t, err)
	require.NotEmpty(t, openGateway)
	require.NotEqual(t, e.gateway, openGateway)
	on, err := e.cli.NetworkInspect(ctx, open, network.InspectOptions{})
	require.NoError(t, err)
	require.False(t, on.Internal, "an existing network is not changed")

	// The hub: the test process, listening on the internal gateway.
	hubPort := serveOn(t, e.gateway, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hub-answer")
	}))

	a := e.start(t, e.httpSpec("a", "srv-a"))
	b := e.start(t, e.httpSpec("b", "srv-b"))
	cSpec := e.httpSpec("c", "srv-c")
	cSpec.Network = open
	c := e.start(t, cSpec)
	require.NotEqual(t, a.IP, b.IP)

	targets := []string{
		net.JoinHostPort(e.gateway, fmt.Sprint(hubPort)),
		net.JoinHostPort(b.IP, "8888"),
		net.JoinHostPort(c.IP, "8888"),
	}
	out, code := e.exec(t, a.ID, "", append([]string{"python3", "-c", probeScript}, targets...)...)
	require.Zero(t, code, out)
	results := map[string]probeResult{}
	for _, line := range strings.Split(out, "\n") {
		var r probeResult
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		results[r.Target] = r
	}
	require.Len(t, results, 3, out)

	cases := []struct {
		name      string
		target    string
		reachable bool
	}{
		{"hub on the gateway", targets[0], true},
		{"another student on the same network", targets[1], false},
		{"a container on another network", targets[2], false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := results[tc.target]
			require.Equal(t, tc.reachable, r.OK, "%+v", r)
			if tc.reachable {
				require.Contains(t, r.Answer, "hub-answer")
			}
		})
	}
}

// selfHelperEnv names the environment variable that turns the test binary
// into the helper TestConnectSelfInContainer runs inside a container.
const selfHelperEnv = "LABHUB_SPAWNER_SELF_HELPER"

// runSelfHelper is the helper's whole run: connect the container it runs in
// to the network named in the environment, twice, and print the outcome.
func runSelfHelper() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	report := func(ip string, ok bool, err error) {
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		b, _ := json.Marshal(map[string]any{"ip": ip, "ok": ok, "error": msg})
		fmt.Println(string(b))
	}
	d, err := spawner.New(spawner.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		report("", false, err)
		return
	}
	defer d.Close()
	for range 2 {
		report(d.ConnectSelf(ctx, os.Getenv(selfHelperEnv)))
	}
	// Stay up so the test can look at the container's addresses; an
	// exited container has none.
	<-ctx.Done()
}

func TestConnectSelfInContainer(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	host := e.cli.DaemonHost()
	socket, isUnix := strings.CutPrefix(host, "unix://")
	if !isUnix {
		t.Skipf("the helper container needs the engine's unix socket; engine at %s", host)
	}
	exe, err := os.Executable()
	require.NoError(t, err)

	// The helper starts on a network of its own, as a hub container would
	// sit on its deployment's network.
	home := e.network + "-home"
	_, err = e.d.EnsureNetwork(ctx, home)
	require.NoError(t, err)
	resp, err := e.cli.ContainerCreate(ctx, &container.Config{
		Image: e.image,
		User:  "0:0",
		// Not the short ID, so that the mount table must identify it.
		Hostname: "hub",
		Cmd:      []string{"/labhub/spawner.test"},
		Env:      []string{selfHelperEnv + "=" + e.network},
		Labels:   e.labels(""),
	}, &container.HostConfig{
		NetworkMode: container.NetworkMode(home),
		Mounts: []mount.Mount{
			{Type: mount.TypeBind, Source: exe, Target: "/labhub/spawner.test", ReadOnly: true},
			{Type: mount.TypeBind, Source: socket, Target: "/var/run/docker.sock"},
		},
	}, nil, nil, e.network+"-hub")
	require.NoError(t, err)
	require.NoError(t, e.cli.ContainerStart(ctx, resp.ID, container.StartOptions{}))
	var lines []string
	deadline := time.Now().Add(time.Minute)
	for len(lines) < 2 {
		logs, err := e.d.Logs(ctx, resp.ID, 0)
		require.NoError(t, err)
		lines = slices.DeleteFunc(strings.Split(logs, "\n"), func(l string) bool { return l == "" })
		require.NoError(t, e.d.CheckRunning(ctx, resp.ID), logs)
		require.True(t, time.Now().Before(deadline), "helper printed %q", logs)
		time.Sleep(100 * time.Millisecond)
	}
	require.Len(t, lines, 2)

	hub, err := e.d.Inspect(ctx, resp.ID, e.network)
	require.NoError(t, err)
	require.NotEmpty(t, hub.IP, "the helper is attached to the network")
	for i, line := range lines {
		var got struct {
			IP    string `json:"ip"`
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &got), line)
		require.Empty(t, got.Error, "call %d", i+1)
		require.True(t, got.OK, "call %d", i+1)
		require.Equal(t, hub.IP, got.IP, "call %d", i+1)
	}
}

func TestConnectSelfNeedsNetwork(t *testing.T) {
	testutil.Docker(t)
	d, err := spawner.New(spawner.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	_, ok, err := d.ConnectSelf(t.Context(), "")
	require.Error(t, err)
	require.False(t, ok)
	_, err = d.EnsureNetwork(t.Context(), "")
	require.Error(t, err)
}
