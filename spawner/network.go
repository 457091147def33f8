package spawner

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
)

// EnsureNetwork makes sure the network name (the default network when empty)
// exists and returns its IPv4 gateway: the host's address on it, where a hub
// running on the host listens for its containers. The gateway is empty when
// the network has none.
//
// A missing network is created as an internal bridge (no route out of the
// host) with inter-container traffic disabled, so a student's container
// reaches the hub and nothing else, not even another student's container. An
// existing network is used as it is, since it may belong to an older
// deployment whose containers still use it.
func (d *Docker) EnsureNetwork(ctx context.Context, name string) (gateway string, err error) {
	name, err = d.networkOr(name)
	if err != nil {
		return "", fmt.Errorf("ensuring network: %w", err)
	}
	n, err := d.inspectNetwork(ctx, name)
	if cerrdefs.IsNotFound(err) {
		err = d.createNetwork(ctx, name)
		if err == nil || cerrdefs.IsConflict(err) {
			// A conflict means another hub process created it in between;
			// either way the network now exists.
			n, err = d.inspectNetwork(ctx, name)
		}
	}
	if err != nil {
		return "", fmt.Errorf("ensuring network %s: %w", name, err)
	}
	return ipv4Gateway(n), nil
}

func (d *Docker) inspectNetwork(ctx context.Context, name string) (network.Inspect, error) {
	ctx, cancel := d.call(ctx)
	defer cancel()
	return d.cli.NetworkInspect(ctx, name, network.InspectOptions{})
}

func (d *Docker) createNetwork(ctx context.Context, name string) error {
	ctx, cancel := d.call(ctx)
	defer cancel()
	_, err := d.cli.NetworkCreate(ctx, name, network.CreateOptions{
		Driver:   "bridge",
		Internal: true,
		Options:  map[string]string{"com.docker.network.bridge.enable_icc": "false"},
		Labels:   d.labelsFor(nil),
	})
	if err != nil {
		return fmt.Errorf("creating network: %w", err)
	}
	d.log.Info("network created", "network", name)
	return nil
}

// ipv4Gateway returns the first IPv4 gateway of n, or "".
func ipv4Gateway(n network.Inspect) string {
	for _, c := range n.IPAM.Config {
		if a, err := netip.ParseAddr(c.Gateway); err == nil && a.Is4() {
			return a.String()
		}
	}
	return ""
}

// ConnectSelf attaches the container the hub runs in, if it runs in one, to
// network (the default network when empty) and returns the hub's IP there.
// ok is false, with no error, when the hub does not run in a container of
// this engine. Attaching twice is harmless.
func (d *Docker) ConnectSelf(ctx context.Context, networkName string) (ip string, ok bool, err error) {
	networkName, err = d.networkOr(networkName)
	if err != nil {
		return "", false, fmt.Errorf("connecting hub container: %w", err)
	}
	id, ok, err := d.selfContainer(ctx, os.ReadFile, hostnameEnv())
	if err != nil || !ok {
		return "", false, err
	}
	ip, err = d.connect(ctx, id, networkName)
	if err != nil {
		return "", false, fmt.Errorf("connecting hub container %.12s to %s: %w", id, networkName, err)
	}
	return ip, true, nil
}

// connect attaches container id to networkName unless it already is, and
// returns its IPv4 address there.
func (d *Docker) connect(ctx context.Context, id, networkName string) (string, error) {
	c, err := d.inspectContainer(ctx, id)
	if err != nil {
		return "", err
	}
	if ip := endpointIP(c, networkName); ip != "" {
		return ip, nil
	}
	cctx, cancel := d.call(ctx)
	connectErr := d.cli.NetworkConnect(cctx, networkName, id, nil)
	cancel()
	// A concurrent caller may have attached it first, which the engine
	// reports as an error; the inspection tells whether it is attached.
	c, err = d.inspectContainer(ctx, id)
	if err != nil {
		return "", errors.Join(connectErr, err)
	}
	ip := endpointIP(c, networkName)
	if ip == "" {
		if connectErr != nil {
			return "", fmt.Errorf("attaching to network: %w", connectErr)
		}
		return "", fmt.Errorf("container has no address on %s after attaching", networkName)
	}
	d.log.Info("hub container attached", "container_id", c.ID, "network", networkName, "ip", ip)
	return ip, nil
}
