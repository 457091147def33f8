package spawner

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/network"
)

// NetworkOptions describes a network the hub creates beside its internal
// one.
type NetworkOptions struct {
	// Outside gives containers a route out of the host. If false, the
	// network is internal: no traffic leaves the host.
	Outside bool
	// Peers lets containers on the network reach each other. If false,
	// inter-container traffic is disabled and each container reaches only
	// the host (and, with Outside, the world).
	Peers bool
	// Labels are added to the network when it is created.
	Labels map[string]string
}

// EnsureNetworkWith makes sure a bridge network called name exists, created
// as opts says when it is missing. An existing network is used as it is.
func (d *Docker) EnsureNetworkWith(ctx context.Context, name string, opts NetworkOptions) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("ensuring network: invalid name %q", name)
	}
	_, err := d.inspectNetwork(ctx, name)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("ensuring network %s: %w", name, err)
	}
	icc := "false"
	if opts.Peers {
		icc = "true"
	}
	cctx, cancel := d.call(ctx)
	defer cancel()
	_, err = d.cli.NetworkCreate(cctx, name, network.CreateOptions{
		Driver:   "bridge",
		Internal: !opts.Outside,
		Options:  map[string]string{"com.docker.network.bridge.enable_icc": icc},
		Labels:   d.labelsFor(opts.Labels),
	})
	if err != nil && !cerrdefs.IsConflict(err) {
		return fmt.Errorf("creating network %s: %w", name, err)
	}
	if err == nil {
		d.log.Info("network created", "network", name, "outside", opts.Outside, "peers", opts.Peers)
	}
	return nil
}

// RemoveNetwork removes the network name. A missing network is not an
// error; one that containers still use is.
func (d *Docker) RemoveNetwork(ctx context.Context, name string) error {
	ctx, cancel := d.call(ctx)
	defer cancel()
	err := d.cli.NetworkRemove(ctx, name)
	switch {
	case cerrdefs.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("removing network %s: %w", name, err)
	}
	d.log.Info("network removed", "network", name)
	return nil
}

// connectExtra attaches a created container to more networks before it
// starts; the engine's create call takes only one on older API versions.
func (d *Docker) connectExtra(ctx context.Context, id string, networks []string) error {
	for _, n := range networks {
		cctx, cancel := d.call(ctx)
		err := d.cli.NetworkConnect(cctx, n, id, nil)
		cancel()
		if err != nil {
			return fmt.Errorf("joining network %s: %w", n, err)
		}
	}
	return nil
}
