package spawner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
)

// Labels the package reads or writes on Docker objects.
const (
	// LabelManaged marks every object the package creates; its value is
	// "true".
	LabelManaged = "labhub.managed"
	// LabelServerID identifies the server a container belongs to; Start
	// adopts a running container only when this label matches.
	LabelServerID = "labhub.server-id"
	// LabelInstance tells one hub's objects from another's on the same
	// engine; Start adopts a running container only when it matches too.
	LabelInstance = "labhub.instance"
	// LabelPort records the port the server listens on inside its container,
	// so Inspect and List can build its URL.
	LabelPort = "labhub.port"
)

// DefaultCallTimeout bounds a single Docker API call when Options.CallTimeout
// is zero.
const DefaultCallTimeout = 30 * time.Second

var (
	// ErrNotFound is returned (wrapped) when a container or volume does not
	// exist.
	ErrNotFound = errors.New("spawner: not found")
	// ErrConflict is returned (wrapped) when a name is taken by a running
	// container of another server.
	ErrConflict = errors.New("spawner: name in use by another server")
	// ErrNotRunning is returned (wrapped) by CheckRunning when a container
	// exists but does not run.
	ErrNotRunning = errors.New("spawner: container not running")
	// ErrImageMissing is returned (wrapped) by Start when the engine does not
	// have the spec's image; the package never pulls.
	ErrImageMissing = errors.New("spawner: image not present")
)

// Options configures a Docker.
type Options struct {
	// Network is the network EnsureNetwork, ConnectSelf and Start use when
	// given an empty network name. If empty, they need an explicit name.
	Network string
	// Logger receives lifecycle events (container started, removed, ...). If
	// nil, slog.Default() is used.
	Logger *slog.Logger
	// CallTimeout bounds each Docker API call, so that a wedged engine
	// cannot wedge the hub. If zero, DefaultCallTimeout is used.
	CallTimeout time.Duration
	// Labels are added to every network, volume and container created, for
	// instance to tell apart the objects of two hubs sharing an engine. They
	// do not restrict List; pass them in its match for that.
	Labels map[string]string
	// CapAdd lists the capabilities given back to notebook containers after
	// all are dropped. If empty, none are: images that run as an unprivileged
	// user (jovyan) need none. Images that start as root and switch user
	// (Jupyter Docker Stacks with NB_UID) would need CHOWN, SETUID, SETGID.
	CapAdd []string
}

// Docker manages notebook containers on one Docker engine. It is safe for
// concurrent use.
type Docker struct {
	cli     *client.Client
	log     *slog.Logger
	timeout time.Duration
	network string
	capAdd  []string
	labels  map[string]string
}

// New connects to the engine described by the environment (DOCKER_HOST and
// friends, as the docker CLI), negotiates the API version and checks that the
// engine answers.
func New(opts Options) (*Docker, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("creating docker client: %w", err)
	}
	d := &Docker{
		cli:     cli,
		log:     opts.Logger,
		timeout: opts.CallTimeout,
		network: opts.Network,
		capAdd:  append([]string(nil), opts.CapAdd...),
		labels:  maps.Clone(opts.Labels),
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.timeout <= 0 {
		d.timeout = DefaultCallTimeout
	}
	ctx, cancel := d.call(context.Background())
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("pinging docker engine at %s: %w", cli.DaemonHost(), err)
	}
	return d, nil
}

// Close releases the connection to the engine.
func (d *Docker) Close() error {
	if err := d.cli.Close(); err != nil {
		return fmt.Errorf("closing docker client: %w", err)
	}
	return nil
}

// call derives the context of one API call from ctx.
func (d *Docker) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.timeout)
}

// networkOr returns name, or the default network when name is empty.
func (d *Docker) networkOr(name string) (string, error) {
	if name != "" {
		return name, nil
	}
	if d.network == "" {
		return "", errors.New("no network given and no default network configured")
	}
	return d.network, nil
}

// labelsFor returns the labels of a new object: the configured ones, then
// the caller's, then LabelManaged.
func (d *Docker) labelsFor(labels map[string]string) map[string]string {
	out := make(map[string]string, len(d.labels)+len(labels)+2)
	maps.Copy(out, d.labels)
	maps.Copy(out, labels)
	out[LabelManaged] = "true"
	return out
}

// notFound turns the engine's not-found error into one wrapping ErrNotFound.
func notFound(err error) error {
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
