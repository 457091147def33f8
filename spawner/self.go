package spawner

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
)

var (
	// mountRootRE matches the root of the bind mounts the engine places at
	// /etc/hostname, /etc/hosts and /etc/resolv.conf of a container: files
	// in the container's own directory, named by its full ID (Docker:
	// .../containers/<id>/hostname; Podman: .../<id>/userdata/hostname).
	mountRootRE = regexp.MustCompile(`/([0-9a-f]{64})/(?:userdata/)?(?:hostname|hosts|resolv\.conf)$`)
	// cgroupRE matches a cgroup path whose last element names a container:
	// /docker/<id> (cgroup v1) or docker-<id>.scope (systemd driver).
	cgroupRE = regexp.MustCompile(`(?:/|docker-)([0-9a-f]{64})(?:\.scope)?$`)
	// shortIDRE matches the hostname the engine gives a container by
	// default: the first 12 hex digits of its ID.
	shortIDRE = regexp.MustCompile(`^[0-9a-f]{12}$`)
)

// selfMountPoints are where the engine bind-mounts per-container files. Only
// these count: a host's own mount table also lists per-container directories
// (shm mounts of running containers), which must not be mistaken for the
// hub's own container.
var selfMountPoints = map[string]bool{"/etc/hostname": true, "/etc/hosts": true, "/etc/resolv.conf": true}

// selfCandidates returns the container IDs, or ID prefixes, that the process
// tables suggest the current process runs in, most reliable first.
func selfCandidates(mountinfo, cgroup []byte, hostname string) []string {
	var out []string
	add := func(id string) {
		for _, o := range out {
			if o == id {
				return
			}
		}
		out = append(out, id)
	}
	// mountinfo fields: ID, parent ID, major:minor, root, mount point, ...
	for line := range bytes.Lines(mountinfo) {
		f := strings.Fields(string(line))
		if len(f) < 5 || !selfMountPoints[f[4]] {
			continue
		}
		if m := mountRootRE.FindStringSubmatch(f[3]); m != nil {
			add(m[1])
		}
	}
	// cgroup lines: hierarchy:controllers:path. Containers with their own
	// cgroup namespace (the default on cgroup v2) only see "/" here.
	for line := range bytes.Lines(cgroup) {
		_, path, found := strings.Cut(strings.TrimSpace(string(line)), ":")
		if !found {
			continue
		}
		_, path, _ = strings.Cut(path, ":")
		if m := cgroupRE.FindStringSubmatch(path); m != nil {
			add(m[1])
		}
	}
	if shortIDRE.MatchString(hostname) {
		add(hostname)
	}
	return out
}

// selfContainer finds the container of this engine the process runs in.
func (d *Docker) selfContainer(ctx context.Context, read func(string) ([]byte, error),
	hostname string) (string, bool, error) {
	// Missing files are normal outside Linux; they only yield no candidates.
	mountinfo, _ := read("/proc/self/mountinfo")
	cgroup, _ := read("/proc/self/cgroup")
	for _, cand := range selfCandidates(mountinfo, cgroup, hostname) {
		c, err := d.inspectContainer(ctx, cand)
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", false, fmt.Errorf("inspecting candidate hub container %s: %w", cand, err)
		}
		// A hostname is only a hint: it must be the prefix of the ID, not
		// the name of some other container.
		if !strings.HasPrefix(c.ID, cand) {
			continue
		}
		// A container on the host's network stack cannot join another
		// network and does not need to: it reaches the gateway like the
		// host does.
		if c.HostConfig != nil && c.HostConfig.NetworkMode.IsHost() {
			return "", false, nil
		}
		return c.ID, true, nil
	}
	return "", false, nil
}

// hostnameEnv returns the hostname the process sees.
func hostnameEnv() string {
	if h := os.Getenv("HOSTNAME"); h != "" {
		return h
	}
	h, _ := os.Hostname()
	return h
}
