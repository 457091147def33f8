package spawner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// Server is the engine's view of a server's container.
type Server struct {
	// ID is the engine's container ID.
	ID string
	// Name is the container name, without the engine's leading slash.
	Name string
	// Image is the image reference the container was created from.
	Image string
	// Labels are all labels of the container, including LabelManaged.
	Labels map[string]string
	// State is the engine's state: created, running, paused, restarting,
	// removing, exited or dead.
	State   string
	Running bool
	// IP is the container's IPv4 address on the network asked for, or ""
	// when it is not attached there (or not running).
	IP string
	// URL is "http://<IP>:<port>" while the server runs, else "".
	URL string
	// StartedAt and FinishedAt are the last start and exit; zero if none.
	StartedAt, FinishedAt time.Time
	// ExitCode is the code of the last exit.
	ExitCode int
	// OOMKilled reports whether the kernel killed the container for
	// exceeding its memory limit.
	OOMKilled bool
	// Created is when the container was created.
	Created time.Time
}

// Start creates and starts the container of spec and returns it, inspected.
//
// A container of the same name that is not running (created, exited, dead)
// is removed first; its volumes stay. A running one is returned as it is when
// its LabelServerID equals the spec's (the hub adopts a server it started
// before a restart); otherwise Start fails with an error wrapping
// ErrConflict; another hub's container (LabelInstance differs) is never
// adopted. If the engine creates the container but cannot start it, the
// container is removed so the name is free for the next attempt.
func (d *Docker) Start(ctx context.Context, spec Spec) (Server, error) {
	if err := spec.validate(); err != nil {
		return Server{}, fmt.Errorf("starting %s: invalid spec: %w", spec.Name, err)
	}
	netName, err := d.networkOr(spec.Network)
	if err != nil {
		return Server{}, fmt.Errorf("starting %s: %w", spec.Name, err)
	}
	old, err := d.inspectContainer(ctx, spec.Name)
	if err == nil && strings.TrimPrefix(old.Name, "/") != spec.Name {
		// The engine also resolves a name as a prefix of some other
		// container's ID; that container is none of this server's business.
		err = cerrdefs.ErrNotFound
	}
	switch {
	case err == nil:
		if old.State != nil && old.State.Running {
			oldServer := toServer(old, netName)
			if id := spec.Labels[LabelServerID]; id != "" && oldServer.Labels[LabelServerID] == id &&
				oldServer.Labels[LabelInstance] == spec.Labels[LabelInstance] {
				d.log.Info("container adopted", "container_name", spec.Name, "container_id", old.ID)
				return oldServer, nil
			}
			return Server{}, fmt.Errorf("starting %s: running container %.12s has server id %q: %w",
				spec.Name, old.ID, oldServer.Labels[LabelServerID], ErrConflict)
		}
		if err := d.forceRemove(ctx, old.ID); err != nil {
			return Server{}, fmt.Errorf("starting %s: replacing stopped container: %w", spec.Name, err)
		}
		if err := d.waitGone(ctx, old.ID); err != nil {
			return Server{}, fmt.Errorf("starting %s: replacing stopped container: %w", spec.Name, err)
		}
		d.log.Info("stopped container removed", "container_name", spec.Name, "container_id", old.ID)
	case !cerrdefs.IsNotFound(err):
		return Server{}, fmt.Errorf("starting %s: %w", spec.Name, err)
	}

	cfg, host := spec.config(d.labelsFor(spec.Labels)), spec.hostConfig(netName, d.capAdd)
	cctx, cancel := d.call(ctx)
	resp, err := d.cli.ContainerCreate(cctx, cfg, host, nil, nil, spec.Name)
	cancel()
	switch {
	case cerrdefs.IsConflict(err):
		// Another caller created the name in between.
		return Server{}, fmt.Errorf("creating container %s: %w: %w", spec.Name, ErrConflict, err)
	case cerrdefs.IsNotFound(err):
		// The engine says "not found" for a missing image and for a missing
		// network alike; only the first is worth a sentinel.
		if present, perr := d.ImagePresent(ctx, spec.Image); perr == nil && !present {
			return Server{}, fmt.Errorf("creating container %s: %w: %w", spec.Name, ErrImageMissing, err)
		}
		return Server{}, fmt.Errorf("creating container %s: %w", spec.Name, err)
	case err != nil:
		return Server{}, fmt.Errorf("creating container %s: %w", spec.Name, err)
	}
	log := d.log.With("container_name", spec.Name, "container_id", resp.ID)
	log.Info("container created", "image", spec.Image, "network", netName)
	if err := d.connectExtra(ctx, resp.ID, spec.ExtraNetworks); err != nil {
		if rerr := d.forceRemove(ctx, resp.ID); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return Server{}, fmt.Errorf("starting container %s: %w", spec.Name, err)
	}

	cctx, cancel = d.call(ctx)
	err = d.cli.ContainerStart(cctx, resp.ID, container.StartOptions{})
	cancel()
	if err != nil {
		if rerr := d.forceRemove(ctx, resp.ID); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return Server{}, fmt.Errorf("starting container %s: %w", spec.Name, err)
	}
	log.Info("container started")
	c, err := d.inspectContainer(ctx, resp.ID)
	if err != nil {
		return Server{}, fmt.Errorf("inspecting started container %s: %w", spec.Name, notFound(err))
	}
	return toServer(c, netName), nil
}

// Stop stops the container nameOrID, giving it timeout to exit after SIGTERM
// before it is killed, and removes it; its volumes stay. A container that
// does not exist is not an error.
func (d *Docker) Stop(ctx context.Context, nameOrID string, timeout time.Duration) error {
	secs := int(math.Ceil(max(timeout, 0).Seconds()))
	// The engine waits up to timeout itself, so the call may take that long.
	cctx, cancel := context.WithTimeout(ctx, d.timeout+time.Duration(secs)*time.Second)
	err := d.cli.ContainerStop(cctx, nameOrID, container.StopOptions{Timeout: &secs})
	cancel()
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stopping container %s: %w", nameOrID, err)
	}
	if err := d.forceRemove(ctx, nameOrID); err != nil {
		return err
	}
	if err := d.waitGone(ctx, nameOrID); err != nil {
		return err
	}
	d.log.Info("container stopped and removed", "container", nameOrID)
	return nil
}

// waitGone waits until the engine no longer knows the container nameOrID:
// a removal another caller started may still be under way when ours
// returns, and until it ends the name cannot be used again.
func (d *Docker) waitGone(ctx context.Context, nameOrID string) error {
	deadline := time.Now().Add(d.timeout)
	for {
		_, err := d.inspectContainer(ctx, nameOrID)
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("waiting for removal of %s: %w", nameOrID, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("container %s still exists after its removal", nameOrID)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Inspect returns the container nameOrID, with its IP on network. An empty
// network means the network the container was started on. A missing
// container gives an error wrapping ErrNotFound.
func (d *Docker) Inspect(ctx context.Context, nameOrID string, network string) (Server, error) {
	c, err := d.inspectContainer(ctx, nameOrID)
	if err != nil {
		return Server{}, fmt.Errorf("inspecting container %s: %w", nameOrID, notFound(err))
	}
	return toServer(c, network), nil
}

// CheckRunning returns nil while the container nameOrID runs, and otherwise
// an error wrapping ErrNotRunning (or ErrNotFound when it is gone) that
// says how it ended. It suits WaitReady's isRunning.
func (d *Docker) CheckRunning(ctx context.Context, nameOrID string) error {
	s, err := d.Inspect(ctx, nameOrID, "")
	switch {
	case err != nil:
		return err
	case s.Running:
		return nil
	case s.OOMKilled:
		return fmt.Errorf("container %s %s, killed for lack of memory: %w", nameOrID, s.State, ErrNotRunning)
	default:
		return fmt.Errorf("container %s %s with code %d: %w", nameOrID, s.State, s.ExitCode, ErrNotRunning)
	}
}

// List returns the containers, running or not, that the package manages and
// that carry every label in match; an empty value matches any value of that
// label. network is as for Inspect. Containers removed while the list is
// being built are left out.
func (d *Docker) List(ctx context.Context, match map[string]string, network string) ([]Server, error) {
	f := filters.NewArgs(filters.Arg("label", LabelManaged+"=true"))
	for k, v := range match {
		if v == "" {
			f.Add("label", k)
		} else {
			f.Add("label", k+"="+v)
		}
	}
	cctx, cancel := d.call(ctx)
	list, err := d.cli.ContainerList(cctx, container.ListOptions{All: true, Filters: f})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	out := make([]Server, 0, len(list))
	// TODO: one inspection per container gives start and exit details the
	// list lacks; fine for hundreds of servers, but a reconcile over
	// thousands would want the summary alone.
	for _, s := range list {
		c, err := d.inspectContainer(ctx, s.ID)
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listing containers: inspecting %.12s: %w", s.ID, err)
		}
		out = append(out, toServer(c, network))
	}
	return out, nil
}

func (d *Docker) inspectContainer(ctx context.Context, nameOrID string) (container.InspectResponse, error) {
	ctx, cancel := d.call(ctx)
	defer cancel()
	return d.cli.ContainerInspect(ctx, nameOrID)
}

// toServer converts an inspection. network "" means the container's own
// network.
func toServer(c container.InspectResponse, network string) Server {
	s := Server{
		ID:      c.ID,
		Name:    strings.TrimPrefix(c.Name, "/"),
		Created: parseTime(c.Created),
	}
	if network == "" && c.HostConfig != nil {
		network = string(c.HostConfig.NetworkMode)
	}
	if c.Config != nil {
		s.Image = c.Config.Image
		s.Labels = c.Config.Labels
	}
	if st := c.State; st != nil {
		s.State = string(st.Status)
		s.Running = st.Running
		s.ExitCode = st.ExitCode
		s.OOMKilled = st.OOMKilled
		s.StartedAt = parseTime(st.StartedAt)
		s.FinishedAt = parseTime(st.FinishedAt)
	}
	s.IP = endpointIP(c, network)
	if s.Running && s.IP != "" {
		port, err := strconv.Atoi(s.Labels[LabelPort])
		if err != nil || port <= 0 || port > 65535 {
			port = DefaultPort
		}
		s.URL = "http://" + net.JoinHostPort(s.IP, strconv.Itoa(port))
	}
	return s
}

// endpointIP returns the IPv4 address of c on network, or "".
func endpointIP(c container.InspectResponse, network string) string {
	if c.NetworkSettings == nil || network == "" {
		return ""
	}
	// TODO: IPv6-only networks are not supported; the internal network the
	// hub creates always has IPv4.
	if ep := c.NetworkSettings.Networks[network]; ep != nil {
		return ep.IPAddress
	}
	return ""
}

// parseTime parses the engine's timestamps; the engine writes the zero time
// for events that did not happen, which parses to the zero time.Time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
