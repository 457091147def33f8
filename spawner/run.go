package spawner

import (
	"context"
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
)

// RunSpec is a short-lived command in a throwaway container.
type RunSpec struct {
	Image string
	// Cmd replaces the image's entrypoint and command.
	Cmd []string
	// Network is the network it joins; "" means none.
	Network string
	// User runs the command; "" means the image's user.
	User string
}

// Run runs a command in a container that is removed afterwards and returns
// its exit code and the last lines of its output. It waits until the
// command ends or ctx does.
func (d *Docker) Run(ctx context.Context, r RunSpec) (exit int, output string, err error) {
	if r.Image == "" || len(r.Cmd) == 0 {
		return 0, "", errors.New("run: an image and a command are needed")
	}
	mode := "none"
	if r.Network != "" {
		mode = r.Network
	}
	cfg := &container.Config{Image: r.Image, Entrypoint: r.Cmd[:1], Cmd: r.Cmd[1:], User: r.User,
		Labels: d.labelsFor(map[string]string{"labhub.run": "true"})}
	host := &container.HostConfig{NetworkMode: container.NetworkMode(mode), CapDrop: []string{"ALL"},
		SecurityOpt: []string{"no-new-privileges:true"}, LogConfig: logConfig()}
	exit, output, err = d.runOnce(ctx, cfg, host)
	if err != nil {
		return exit, output, fmt.Errorf("run %s: %w", r.Cmd[0], err)
	}
	return exit, output, nil
}

// runOnce creates a container, runs it to its end and removes it,
// returning its exit code and the last lines of its output.
func (d *Docker) runOnce(ctx context.Context, cfg *container.Config, host *container.HostConfig) (int, string, error) {
	cctx, cancel := d.call(ctx)
	resp, err := d.cli.ContainerCreate(cctx, cfg, host, &network.NetworkingConfig{}, nil, "")
	cancel()
	if err != nil {
		return 0, "", fmt.Errorf("create: %w", err)
	}
	defer d.removeHelper(ctx, resp.ID)
	waitC, errC := d.cli.ContainerWait(ctx, resp.ID, container.WaitConditionNextExit)
	if err := d.cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		return 0, "", fmt.Errorf("start: %w", err)
	}
	select {
	case w := <-waitC:
		logs, _ := d.Logs(context.WithoutCancel(ctx), resp.ID, 50)
		if w.Error != nil {
			return 0, logs, errors.New(w.Error.Message)
		}
		return int(w.StatusCode), strings.TrimSpace(logs), nil
	case err := <-errC:
		return 0, "", fmt.Errorf("wait: %w", err)
	}
}

// NetworkInfo describes a network as Labhub cares about it.
type NetworkInfo struct {
	Name     string
	Internal bool
	// ICC reports whether containers on it may reach each other.
	ICC     bool
	Gateway string
}

// InspectNetwork returns what the engine says of a network; ErrNotFound when
// there is none of that name.
func (d *Docker) InspectNetwork(ctx context.Context, name string) (NetworkInfo, error) {
	n, err := d.inspectNetwork(ctx, name)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return NetworkInfo{}, fmt.Errorf("network %s: %w", name, ErrNotFound)
		}
		return NetworkInfo{}, fmt.Errorf("network %s: %w", name, err)
	}
	return NetworkInfo{Name: n.Name, Internal: n.Internal, ICC: n.Options["com.docker.network.bridge.enable_icc"] != "false",
		Gateway: ipv4Gateway(n)}, nil
}

// Engine returns what the engine says of itself.
func (d *Docker) Engine(ctx context.Context) (system.Info, error) {
	cctx, cancel := d.call(ctx)
	defer cancel()
	info, err := d.cli.Info(cctx)
	if err != nil {
		return system.Info{}, fmt.Errorf("engine info: %w", err)
	}
	return info, nil
}
