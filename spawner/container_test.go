package spawner_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/spawner"
)

// hubEnv is the environment a hub gives a notebook server.
func hubEnv() map[string]string {
	return map[string]string{
		"JUPYTERHUB_API_TOKEN":           "x",
		"JUPYTERHUB_SERVICE_PREFIX":      "/user/t/c/",
		"JUPYTERHUB_SERVICE_URL":         "http://0.0.0.0:8888/user/t/c/",
		"JUPYTERHUB_API_URL":             "http://127.0.0.1:1/hub/api",
		"JUPYTERHUB_CLIENT_ID":           "jupyterhub-user-t--c",
		"JUPYTERHUB_OAUTH_ACCESS_SCOPES": `["access:servers!server=t/c"]`,
	}
}

func TestStartInspectListStop(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	home := spawner.HomeVolumeName(e.prefix, "c")
	_, err := e.d.EnsureVolume(ctx, home, e.labels(""), "", "")
	require.NoError(t, err)
	spec := e.httpSpec("c", "srv-1")
	spec.Env = hubEnv()
	spec.Mounts = []spawner.Mount{{Volume: home, Target: "/home/jovyan/work"}}
	spec.MemoryBytes = 256 << 20
	spec.NanoCPUs = 500_000_000
	spec.PidsLimit = 64
	s := e.start(t, spec)

	require.Equal(t, spec.Name, s.Name)
	require.Equal(t, e.image, s.Image)
	require.Equal(t, "running", s.State)
	require.True(t, s.Running)
	require.Equal(t, "true", s.Labels[spawner.LabelManaged])
	require.Equal(t, "srv-1", s.Labels[spawner.LabelServerID])
	require.Equal(t, t.Name(), s.Labels[testLabel])
	require.WithinDuration(t, time.Now(), s.StartedAt, time.Minute)
	require.WithinDuration(t, time.Now(), s.Created, time.Minute)
	require.True(t, s.FinishedAt.IsZero())

	// The address is on the test network, and the URL uses the default port.
	n, err := e.cli.NetworkInspect(ctx, e.network, network.InspectOptions{})
	require.NoError(t, err)
	subnet := netip.MustParsePrefix(n.IPAM.Config[0].Subnet)
	require.True(t, subnet.Contains(netip.MustParseAddr(s.IP)), "%s not in %s", s.IP, subnet)
	require.Equal(t, "http://"+net.JoinHostPort(s.IP, "8888"), s.URL)

	// What the engine was told.
	raw, err := e.cli.ContainerInspect(ctx, s.ID)
	require.NoError(t, err)
	hc := raw.HostConfig
	require.Equal(t, int64(256<<20), hc.Memory)
	require.Equal(t, int64(256<<20), hc.MemorySwap)
	require.Equal(t, int64(500_000_000), hc.NanoCPUs)
	require.NotNil(t, hc.PidsLimit)
	require.Equal(t, int64(64), *hc.PidsLimit)
	require.Equal(t, []string{"no-new-privileges:true"}, hc.SecurityOpt)
	require.Equal(t, []string{"ALL"}, []string(hc.CapDrop))
	require.Empty(t, hc.CapAdd)
	require.Equal(t, container.RestartPolicyDisabled, hc.RestartPolicy.Name)
	require.NotNil(t, hc.Init)
	require.False(t, *hc.Init)
	require.False(t, hc.ReadonlyRootfs)
	require.Equal(t, "json-file", hc.LogConfig.Type)
	require.Equal(t, map[string]string{"max-size": "10m", "max-file": "2"}, hc.LogConfig.Config)
	require.Equal(t, e.network, string(hc.NetworkMode))
	require.Len(t, raw.NetworkSettings.Networks, 1, "only the spec network")
	require.Equal(t, []mount.Mount{{Type: mount.TypeVolume, Source: home, Target: "/home/jovyan/work"}}, hc.Mounts)
	for k, v := range hubEnv() {
		require.Contains(t, raw.Config.Env, k+"="+v)
	}
	require.Equal(t, spec.Cmd, []string(raw.Config.Cmd))

	// The process really runs without capabilities and cannot gain any.
	status, code := e.exec(t, s.ID, "", "grep", "-E", "^(CapEff|CapBnd|NoNewPrivs)", "/proc/self/status")
	require.Zero(t, code, status)
	require.Contains(t, status, "CapEff:\t0000000000000000")
	require.Contains(t, status, "CapBnd:\t0000000000000000")
	require.Contains(t, status, "NoNewPrivs:\t1")

	got, err := e.d.Inspect(ctx, spec.Name, "")
	require.NoError(t, err)
	require.Equal(t, s.ID, got.ID)
	require.Equal(t, s.URL, got.URL)
	other, err := e.d.Inspect(ctx, s.ID, "bridge")
	require.NoError(t, err)
	require.Empty(t, other.IP, "not attached to the default bridge")
	require.Empty(t, other.URL)
	require.NoError(t, e.d.CheckRunning(ctx, s.ID))

	// List by labels: exact value, any value, and a value nobody has.
	second := e.start(t, e.httpSpec("d", "srv-2"))
	listCases := []struct {
		name  string
		match map[string]string
		want  []string
	}{
		{"by user", map[string]string{"labhub.user": e.prefix}, []string{s.ID, second.ID}},
		{"by server id", map[string]string{spawner.LabelServerID: "srv-2"}, []string{second.ID}},
		{"any server id", map[string]string{spawner.LabelServerID: "", testLabel: t.Name()}, []string{s.ID, second.ID}},
		{"unknown user", map[string]string{"labhub.user": e.prefix + "x"}, nil},
		{"hostile value", map[string]string{"labhub.user": e.prefix + `",label=x`}, nil},
	}
	for _, tc := range listCases {
		t.Run(tc.name, func(t *testing.T) {
			list, err := e.d.List(ctx, tc.match, "")
			require.NoError(t, err)
			var ids []string
			for _, l := range list {
				ids = append(ids, l.ID)
				require.NotEmpty(t, l.URL)
			}
			slices.Sort(ids)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			require.Equal(t, want, ids)
		})
	}

	require.NoError(t, e.d.Stop(ctx, spec.Name, time.Second))
	_, err = e.d.Inspect(ctx, spec.Name, "")
	require.ErrorIs(t, err, spawner.ErrNotFound)
	require.ErrorIs(t, e.d.CheckRunning(ctx, spec.Name), spawner.ErrNotFound)
	require.NoError(t, e.d.Stop(ctx, spec.Name, time.Second), "stopping twice")
	require.NoError(t, e.d.Stop(ctx, s.ID, time.Second), "stopping by the old ID")
	list, err := e.d.List(ctx, map[string]string{"labhub.user": e.prefix}, "")
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, second.ID, list[0].ID)
	// The volume outlives the container.
	_, err = e.cli.VolumeInspect(ctx, home)
	require.NoError(t, err)
}

func TestStartOverExistingContainer(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	// An exited container of the same name is replaced.
	exiting := e.httpSpec("c", "srv-1")
	exiting.Cmd = []string{"sh", "-c", "echo bye; exit 3"}
	first, err := e.d.Start(ctx, exiting)
	require.NoError(t, err)
	exited := e.waitExited(t, first.ID)
	require.Equal(t, 3, exited.ExitCode)
	require.False(t, exited.FinishedAt.IsZero())
	require.Empty(t, exited.URL)
	err = e.d.CheckRunning(ctx, first.ID)
	require.ErrorIs(t, err, spawner.ErrNotRunning)
	require.Contains(t, err.Error(), "code 3")
	logs, err := e.d.Logs(ctx, first.ID, 5)
	require.NoError(t, err)
	require.Equal(t, "bye\n", logs)

	spec := e.httpSpec("c", "srv-1")
	running := e.start(t, spec)
	require.NotEqual(t, first.ID, running.ID)
	_, err = e.d.Inspect(ctx, first.ID, "")
	require.ErrorIs(t, err, spawner.ErrNotFound)

	// A created but never started container is replaced too.
	created, err := e.cli.ContainerCreate(ctx, &container.Config{
		Image: e.image, Cmd: []string{"true"}, Labels: e.labels("srv-9"),
	}, &container.HostConfig{NetworkMode: "none"}, nil, nil, spawner.ContainerName(e.prefix, "created"))
	require.NoError(t, err)
	replaced := e.start(t, e.httpSpec("created", "srv-9"))
	require.NotEqual(t, created.ID, replaced.ID)

	// A name that the engine would also resolve as the ID prefix of another
	// stopped container must not remove that container.
	victim, err := e.cli.ContainerCreate(ctx, &container.Config{
		Image: e.image, Cmd: []string{"true"}, Labels: e.labels("srv-victim"),
	}, &container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	require.NoError(t, err)
	prefixSpec := e.httpSpec("", "srv-prefix")
	prefixSpec.Name = victim.ID[:12]
	byPrefix := e.start(t, prefixSpec)
	require.NotEqual(t, victim.ID, byPrefix.ID)
	_, err = e.cli.ContainerInspect(ctx, victim.ID)
	require.NoError(t, err, "the other container is still there")

	// A running one is adopted when it belongs to the same server, else
	// it is a conflict.
	cases := []struct {
		name     string
		serverID string
		wantErr  error
	}{
		{"same server id adopts", "srv-1", nil},
		{"other server id", "srv-2", spawner.ErrConflict},
		{"no server id", "", spawner.ErrConflict},
		{"server id differing in case", "SRV-1", spawner.ErrConflict},
	}
	// Another hub's container of the same name and server id is not
	// adopted: its instance label differs.
	cases = append(cases, struct {
		name     string
		serverID string
		wantErr  error
	}{"another hub's instance", "other-hub", spawner.ErrConflict})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			again := e.httpSpec("c", tc.serverID)
			if tc.serverID == "other-hub" {
				again = e.httpSpec("c", "srv-1")
				again.Labels[spawner.LabelInstance] = "another-hub"
			}
			got, err := e.d.Start(ctx, again)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.Empty(t, got.ID)
			} else {
				require.NoError(t, err)
				require.Equal(t, running.ID, got.ID)
				require.Equal(t, running.URL, got.URL)
			}
			still, err := e.d.Inspect(ctx, spec.Name, "")
			require.NoError(t, err)
			require.Equal(t, running.ID, still.ID)
			require.True(t, still.Running)
		})
	}

	// A running container without any server id is never adopted, even by
	// a spec without one.
	bare := e.httpSpec("bare", "")
	delete(bare.Labels, spawner.LabelServerID)
	e.start(t, bare)
	_, err = e.d.Start(ctx, bare)
	require.ErrorIs(t, err, spawner.ErrConflict)
}

func TestStartFailures(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	cases := []struct {
		name    string
		mutate  func(*spawner.Spec)
		wantErr error
		// created is whether the engine got as far as creating the
		// container, which must not be left behind.
		created bool
	}{
		{name: "missing binary", mutate: func(s *spawner.Spec) { s.Cmd = []string{"/nonexistent/jupyter"} }, created: true},
		{name: "missing image", mutate: func(s *spawner.Spec) { s.Image = "labhub/does-not-exist:" + e.prefix }, wantErr: spawner.ErrImageMissing},
		{name: "missing network", mutate: func(s *spawner.Spec) { s.Network = "labhub-test-missing-" + e.prefix }},
		{name: "bad name", mutate: func(s *spawner.Spec) { s.Name = "../etc" }},
		{name: "empty name", mutate: func(s *spawner.Spec) { s.Name = "" }},
		{name: "no image", mutate: func(s *spawner.Spec) { s.Image = "" }},
		{name: "bad env name", mutate: func(s *spawner.Spec) { s.Env = map[string]string{"A=B": "c"} }},
		{name: "relative mount target", mutate: func(s *spawner.Spec) {
			s.Mounts = []spawner.Mount{{Volume: "labhub-test-" + e.prefix, Target: "home"}}
		}},
		{name: "mount over root", mutate: func(s *spawner.Spec) {
			s.Mounts = []spawner.Mount{{Volume: "labhub-test-" + e.prefix, Target: "/.."}}
		}},
		{name: "bad volume name", mutate: func(s *spawner.Spec) {
			s.Mounts = []spawner.Mount{{Volume: "/etc", Target: "/home/jovyan"}}
		}},
		{name: "negative memory", mutate: func(s *spawner.Spec) { s.MemoryBytes = -1 }},
		{name: "port out of range", mutate: func(s *spawner.Spec) { s.Port = 70000 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := e.httpSpec("c", "srv-1")
			tc.mutate(&spec)
			_, err := e.d.Start(ctx, spec)
			require.Error(t, err)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
			list, lerr := e.d.List(ctx, map[string]string{"labhub.user": e.prefix}, "")
			require.NoError(t, lerr)
			require.Empty(t, list, "a failed start leaves no container")
		})
	}
}

func TestStopGivesTimeThenKills(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	// A server that ignores SIGTERM is killed when the timeout ends.
	spec := e.httpSpec("c", "srv-1")
	spec.Cmd = []string{"sh", "-c", "trap '' TERM; python3 -m http.server 8888"}
	s := e.start(t, spec)
	start := time.Now()
	require.NoError(t, e.d.Stop(ctx, s.ID, 2*time.Second))
	took := time.Since(start)
	require.GreaterOrEqual(t, took, 2*time.Second)
	require.Less(t, took, 15*time.Second)
	_, err := e.d.Inspect(ctx, s.ID, "")
	require.ErrorIs(t, err, spawner.ErrNotFound)
}

func TestLogsAndMemoryUsage(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	spec := e.httpSpec("c", "srv-1")
	spec.Cmd = []string{"sh", "-c", `for i in 1 2 3 4 5; do echo out$i; done; echo err6 >&2; exec python3 -m http.server 8888`}
	spec.MemoryBytes = 128 << 20
	s := e.start(t, spec)

	all, err := e.d.Logs(ctx, s.ID, 0)
	require.NoError(t, err)
	for _, line := range []string{"out1", "out5", "err6", "GET / HTTP/1.1"} {
		require.Contains(t, all, line)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(all, "\n"), "\n")
	require.Greater(t, len(lines), 3)
	tail, err := e.d.Logs(ctx, s.ID, 3)
	require.NoError(t, err)
	require.Equal(t, strings.Join(lines[len(lines)-3:], "")+"\n", tail)

	used, err := e.d.MemoryUsage(ctx, s.ID)
	require.NoError(t, err)
	require.Greater(t, used, uint64(1<<20), "a Python process uses more than a megabyte")
	require.Less(t, used, uint64(128<<20))

	for _, id := range []string{"labhub-test-missing-" + e.prefix, "../.."} {
		_, err = e.d.MemoryUsage(ctx, id)
		require.Error(t, err)
		_, err = e.d.Logs(ctx, id, 1)
		require.Error(t, err)
	}
	_, err = e.d.Logs(ctx, "labhub-test-missing-"+e.prefix, 1)
	require.ErrorIs(t, err, spawner.ErrNotFound)

	require.NoError(t, e.d.Stop(ctx, s.ID, time.Second))
}

func TestMemoryLimitHolds(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	spec := e.httpSpec("c", "srv-1")
	// Allocate and touch 256 MiB under a 64 MiB limit with no swap.
	spec.Cmd = []string{"python3", "-c", "b = bytearray(256 << 20); print('allocated')"}
	spec.MemoryBytes = 64 << 20
	_, err := e.d.Start(ctx, spec)
	require.NoError(t, err)
	s := e.waitExited(t, spec.Name)
	require.True(t, s.OOMKilled, "exit code %d", s.ExitCode)
	require.Equal(t, 137, s.ExitCode)
	err = e.d.CheckRunning(ctx, spec.Name)
	require.ErrorIs(t, err, spawner.ErrNotRunning)
	require.Contains(t, err.Error(), "memory")
	logs, err := e.d.Logs(ctx, spec.Name, 10)
	require.NoError(t, err)
	require.NotContains(t, logs, "allocated")
	_, err = e.d.MemoryUsage(ctx, spec.Name)
	require.Error(t, err, "no usage for a container that does not run")
}

func TestPidsLimitHolds(t *testing.T) {
	e := newEnv(t)
	spec := e.httpSpec("c", "srv-1")
	spec.PidsLimit = 24
	s := e.start(t, spec)
	// Fork sleeping children until the kernel refuses; bounded at 60 so
	// that a missing limit cannot run away.
	script := `
import os, time
n = 0
try:
    for _ in range(60):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
    print("forked", n)
except OSError as e:
    print("forked", n, "then", e.strerror)
`
	out, code := e.exec(t, s.ID, "", "python3", "-c", script)
	require.Zero(t, code, out)
	require.Contains(t, out, "Resource temporarily unavailable")
	require.NotContains(t, out, "forked 60")
	require.NoError(t, e.d.Stop(context.Background(), s.ID, 0))
}

func TestCapAddOption(t *testing.T) {
	e := newEnv(t)
	d, err := spawner.New(spawner.Options{
		Network: e.network,
		CapAdd:  []string{"NET_BIND_SERVICE"},
		Labels:  map[string]string{testLabel: e.test},
	})
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	s, err := d.Start(t.Context(), e.httpSpec("c", "srv-1"))
	require.NoError(t, err)
	raw, err := e.cli.ContainerInspect(t.Context(), s.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"ALL"}, []string(raw.HostConfig.CapDrop))
	require.Equal(t, []string{"CAP_NET_BIND_SERVICE"}, []string(raw.HostConfig.CapAdd))
	// Only that capability (bit 10) stays in the bounding set.
	status, code := e.exec(t, s.ID, "", "grep", "^CapBnd", "/proc/self/status")
	require.Zero(t, code, status)
	require.Equal(t, "CapBnd:\t0000000000000400", status)
}
