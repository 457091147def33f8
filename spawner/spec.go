package spawner

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
)

// DefaultPort is the port a notebook server listens on when Spec.Port is
// zero, as in DockerSpawner.
const DefaultPort = 8888

// Mount attaches a named volume to a container.
type Mount struct {
	// Volume is the name of the volume. A missing volume is created empty by
	// the engine; use EnsureVolume first to control labels and ownership.
	Volume string
	// Target is the absolute path in the container.
	Target string
	// ReadOnly mounts the volume read-only.
	ReadOnly bool
}

// Spec describes the container of one server.
type Spec struct {
	// Name is the container name, from ContainerName.
	Name string
	// Image is the image reference; it must be present on the engine.
	Image string
	// Cmd replaces the image's command. If nil, the image's CMD runs.
	Cmd []string
	// Env is the environment of the server process.
	Env map[string]string
	// Labels are the caller's labels. Options.Labels, LabelManaged and
	// LabelPort are added.
	Labels map[string]string
	// Mounts are the volumes to attach.
	Mounts []Mount
	// Network is the only network the container joins. If empty, the
	// default network of Options is used.
	Network string
	// ExtraNetworks are joined too, before the container starts: a network
	// where a course's servers reach each other, or one with a route out.
	// The server's URL stays its address on Network.
	ExtraNetworks []string
	// User is the "uid:gid" or name to run as. If empty, the image's user.
	User string
	// MemoryBytes limits memory; swap beyond it is not allowed. If zero,
	// there is no limit.
	MemoryBytes int64
	// NanoCPUs limits CPU time in billionths of a CPU. If zero, no limit.
	NanoCPUs int64
	// PidsLimit limits the number of processes and threads. If zero, no
	// limit.
	PidsLimit int64
	// Port is where the server listens inside the container. If zero,
	// DefaultPort.
	Port int
}

// nameRE is the engine's rule for container and volume names.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// validate rejects specs the engine would reject with a less helpful
// message, or that would start something other than what was asked.
func (s Spec) validate() error {
	var errs []error
	if !nameRE.MatchString(s.Name) {
		errs = append(errs, fmt.Errorf("invalid container name %q", s.Name))
	}
	if s.Image == "" {
		errs = append(errs, errors.New("no image"))
	}
	for k := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			errs = append(errs, fmt.Errorf("invalid environment variable name %q", k))
		}
	}
	for _, m := range s.Mounts {
		if !nameRE.MatchString(m.Volume) {
			errs = append(errs, fmt.Errorf("invalid volume name %q", m.Volume))
		}
		if !path.IsAbs(m.Target) || path.Clean(m.Target) == "/" {
			errs = append(errs, fmt.Errorf("invalid mount target %q", m.Target))
		}
	}
	for _, n := range s.ExtraNetworks {
		if !nameRE.MatchString(n) {
			errs = append(errs, fmt.Errorf("invalid network name %q", n))
		}
	}
	if s.MemoryBytes < 0 || s.NanoCPUs < 0 || s.PidsLimit < 0 {
		errs = append(errs, errors.New("negative limit"))
	}
	if s.Port < 0 || s.Port > 65535 {
		errs = append(errs, fmt.Errorf("invalid port %d", s.Port))
	}
	return errors.Join(errs...)
}

func (s Spec) port() int {
	if s.Port == 0 {
		return DefaultPort
	}
	return s.Port
}

// config builds the container configuration for s, with labels (the caller's
// and the package's, see Docker.labelsFor).
func (s Spec) config(labels map[string]string) *container.Config {
	labels[LabelPort] = strconv.Itoa(s.port())
	env := make([]string, 0, len(s.Env))
	for k, v := range s.Env {
		env = append(env, k+"="+v)
	}
	// Sorted so that the same spec always gives the same container.
	slices.Sort(env)
	return &container.Config{
		Image:  s.Image,
		Cmd:    s.Cmd,
		Env:    env,
		Labels: labels,
		User:   s.User,
	}
}

// hostConfig builds the host configuration for s, attached to network.
func (s Spec) hostConfig(network string, capAdd []string) *container.HostConfig {
	mounts := make([]mount.Mount, 0, len(s.Mounts))
	for _, m := range s.Mounts {
		mounts = append(mounts, mount.Mount{
			Type:     mount.TypeVolume,
			Source:   m.Volume,
			Target:   m.Target,
			ReadOnly: m.ReadOnly,
		})
	}
	h := &container.HostConfig{
		Mounts:      mounts,
		NetworkMode: container.NetworkMode(network),
		SecurityOpt: []string{"no-new-privileges:true"},
		CapDrop:     []string{"ALL"},
		CapAdd:      slices.Clone(capAdd),
		// The hub decides when a server runs; the engine must not bring a
		// stopped one back behind its back.
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		// The notebook images bring their own init (tini) or none is needed.
		Init:      new(bool),
		LogConfig: logConfig(),
	}
	if s.MemoryBytes > 0 {
		h.Memory = s.MemoryBytes
		// Memory plus swap equal to memory: no swap beyond the limit.
		h.MemorySwap = s.MemoryBytes
	}
	h.NanoCPUs = s.NanoCPUs
	if s.PidsLimit > 0 {
		h.PidsLimit = &s.PidsLimit
	}
	return h
}

// logConfig bounds the engine's log of a container to 20 MB, whatever the
// server prints.
func logConfig() container.LogConfig {
	return container.LogConfig{
		Type:   "json-file",
		Config: map[string]string{"max-size": "10m", "max-file": "2"},
	}
}
