package spawner_test

import (
	"encoding/json"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/spawner"
)

// probe runs probeScript in container id against targets and returns the
// results by target.
func (e *env) probe(t *testing.T, id string, targets ...string) map[string]probeResult {
	t.Helper()
	out, code := e.exec(t, id, "", append([]string{"python3", "-c", probeScript}, targets...)...)
	require.Zero(t, code, out)
	results := map[string]probeResult{}
	for _, line := range strings.Split(out, "\n") {
		var r probeResult
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		results[r.Target] = r
	}
	require.Len(t, results, len(targets), out)
	return results
}

// ipOn returns the address of container id on network n.
func (e *env) ipOn(t *testing.T, id, n string) string {
	t.Helper()
	s, err := e.d.Inspect(t.Context(), id, n)
	require.NoError(t, err)
	require.NotEmpty(t, s.IP, "container %s has no address on %s", id, n)
	return s.IP
}

// defaultGateway reads the default route's gateway from /proc/net/route.
func defaultGateway(t *testing.T, table string) string {
	t.Helper()
	for _, line := range strings.Split(table, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 2 && f[1] == "00000000" {
			v, err := strconv.ParseUint(f[2], 16, 32)
			require.NoError(t, err)
			return netip.AddrFrom4([4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}).String()
		}
	}
	return ""
}

// Only the project's own containers are probed: a course network lets the
// servers on it reach each other, the hub-only network never does, and an
// outside network gives a route out without any traffic being sent there.
func TestCourseAndOutsideNetworks(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	labels := map[string]string{testLabel: e.test}
	peers := e.network + "-course"
	outside := e.network + "-out"
	require.NoError(t, e.d.EnsureNetworkWith(ctx, peers, spawner.NetworkOptions{Peers: true, Labels: labels}))
	require.NoError(t, e.d.EnsureNetworkWith(ctx, outside, spawner.NetworkOptions{Outside: true, Labels: labels}))
	require.NoError(t, e.d.EnsureNetworkWith(ctx, peers, spawner.NetworkOptions{}), "an existing network is used")
	pn, err := e.cli.NetworkInspect(ctx, peers, network.InspectOptions{})
	require.NoError(t, err)
	require.True(t, pn.Internal)
	require.Equal(t, "true", pn.Options["com.docker.network.bridge.enable_icc"])
	on, err := e.cli.NetworkInspect(ctx, outside, network.InspectOptions{})
	require.NoError(t, err)
	require.False(t, on.Internal)
	require.Equal(t, "false", on.Options["com.docker.network.bridge.enable_icc"])

	hubOnlyA := e.start(t, e.httpSpec("a", "srv-a"))
	hubOnlyB := e.start(t, e.httpSpec("b", "srv-b"))
	specC := e.httpSpec("c", "srv-c")
	specC.ExtraNetworks = []string{peers}
	courseC := e.start(t, specC)
	specD := e.httpSpec("d", "srv-d")
	specD.ExtraNetworks = []string{peers}
	courseD := e.start(t, specD)
	specO := e.httpSpec("o", "srv-o")
	specO.ExtraNetworks = []string{outside}
	out := e.start(t, specO)
	require.Equal(t, e.ipOn(t, courseC.ID, e.network), courseC.IP, "the URL stays on the hub network")

	port := func(ip string) string { return net.JoinHostPort(ip, "8888") }
	hubOnly := e.probe(t, hubOnlyA.ID, port(hubOnlyB.IP), port(courseC.IP))
	require.False(t, hubOnly[port(hubOnlyB.IP)].OK, "hub only: no other student's container")
	require.False(t, hubOnly[port(courseC.IP)].OK)

	dPeer := e.ipOn(t, courseD.ID, peers)
	course := e.probe(t, courseC.ID, port(dPeer), port(courseD.IP), port(hubOnlyA.IP))
	require.True(t, course[port(dPeer)].OK, "course network: the course's servers reach each other: %+v", course[port(dPeer)])
	require.Contains(t, course[port(dPeer)].Answer, "HTTP/1.0 200")
	require.False(t, course[port(courseD.IP)].OK, "not over the hub network")
	require.False(t, course[port(hubOnlyA.IP)].OK, "nor containers outside the course")

	// Only the outside network is not internal, and the outside server's
	// default route goes through it; nothing is sent there.
	internalOnly := func(id string) bool {
		raw, err := e.cli.ContainerInspect(ctx, id)
		require.NoError(t, err)
		for n := range raw.NetworkSettings.Networks {
			ni, err := e.cli.NetworkInspect(ctx, n, network.InspectOptions{})
			require.NoError(t, err)
			if !ni.Internal {
				return false
			}
		}
		return true
	}
	require.True(t, internalOnly(hubOnlyA.ID), "hub only: internal networks only")
	require.True(t, internalOnly(courseC.ID), "course network: internal networks only")
	require.False(t, internalOnly(out.ID), "outside: a network with a route out")
	table, code := e.exec(t, out.ID, "", "cat", "/proc/net/route")
	require.Zero(t, code, table)
	require.Equal(t, on.IPAM.Config[0].Gateway, defaultGateway(t, table), "the default route leaves through the outside network")
	oOut := e.probe(t, out.ID, port(e.ipOn(t, courseC.ID, e.network)))
	require.False(t, oOut[port(courseC.IP)].OK, "outside access does not open other students' containers")

	// Networks in use cannot go; unused ones can.
	require.Error(t, e.d.RemoveNetwork(ctx, peers))
	for _, s := range []spawner.Server{courseC, courseD} {
		require.NoError(t, e.d.Stop(ctx, s.ID, time.Second))
	}
	require.NoError(t, e.d.RemoveNetwork(ctx, peers))
	require.NoError(t, e.d.RemoveNetwork(ctx, peers), "a missing network is not an error")

	// A missing extra network fails the start and leaves no container.
	bad := e.httpSpec("x", "srv-x")
	bad.ExtraNetworks = []string{e.network + "-missing"}
	_, err = e.d.Start(ctx, bad)
	require.Error(t, err)
	_, err = e.d.Inspect(ctx, bad.Name, "")
	require.ErrorIs(t, err, spawner.ErrNotFound)
}
