package spawner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
)

// Files reach into named volumes through the engine's archive API. Each
// call creates a helper container from image with the mounts, never starts
// it (so nothing in the image runs and no network is involved), copies a tar
// stream in or out, and removes the container. Any image present on the
// engine will do; the course's image always is.

// ReadTar returns a tar stream of path (a file or directory inside one of
// the mounts; directories are archived with their contents, under their own
// name). A read-only mount of a volume that does not exist gives
// ErrNotFound rather than creating the volume: reading creates nothing.
// Closing the stream removes the helper container.
func (d *Docker) ReadTar(ctx context.Context, image string, mounts []Mount, p string) (io.ReadCloser, error) {
	for _, m := range mounts {
		if !m.ReadOnly {
			continue
		}
		if _, err := d.inspectVolume(ctx, m.Volume); err != nil {
			if cerrdefs.IsNotFound(err) {
				return nil, fmt.Errorf("reading %s: volume %s: %w", p, m.Volume, ErrNotFound)
			}
			return nil, fmt.Errorf("reading %s: inspect volume %s: %w", p, m.Volume, err)
		}
	}
	id, err := d.createHelper(ctx, image, mounts)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	rc, _, err := d.cli.CopyFromContainer(cctx, id, path.Clean(p))
	if err != nil {
		cancel()
		d.removeHelper(ctx, id)
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("reading %s: %w", p, ErrNotFound)
		}
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return &helperStream{ReadCloser: rc, done: func() { cancel(); d.removeHelper(ctx, id) }}, nil
}

// WriteTar extracts a tar stream into dir (which must exist inside one of
// the mounts). Entries keep the owner and mode their headers give, so the
// caller decides who owns what it writes and whether it is read-only.
func (d *Docker) WriteTar(ctx context.Context, image string, mounts []Mount, dir string, r io.Reader) error {
	id, err := d.createHelper(ctx, image, mounts)
	if err != nil {
		return fmt.Errorf("writing into %s: %w", dir, err)
	}
	defer d.removeHelper(ctx, id)
	err = d.cli.CopyToContainer(ctx, id, path.Clean(dir), r, container.CopyToContainerOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("writing into %s: %w", dir, ErrNotFound)
		}
		return fmt.Errorf("writing into %s: %w", dir, err)
	}
	return nil
}

// createHelper creates the never-started container of ReadTar and WriteTar.
func (d *Docker) createHelper(ctx context.Context, image string, mounts []Mount) (string, error) {
	if image == "" {
		return "", errors.New("a helper container needs an image")
	}
	ms, err := helperMounts(mounts)
	if err != nil {
		return "", err
	}
	cfg := &container.Config{Image: image, Entrypoint: []string{"/nonexistent"}, Labels: d.labelsFor(nil)}
	cfg.Labels["labhub.helper"] = "true"
	host := &container.HostConfig{NetworkMode: "none", Mounts: ms, LogConfig: logConfig()}
	cctx, cancel := d.call(ctx)
	defer cancel()
	resp, err := d.cli.ContainerCreate(cctx, cfg, host, nil, nil, "")
	if err != nil {
		return "", fmt.Errorf("creating helper container: %w", err)
	}
	return resp.ID, nil
}

// helperMounts checks the mounts of a helper container and returns them in
// Docker's form.
func helperMounts(mounts []Mount) ([]mount.Mount, error) {
	var ms []mount.Mount
	for _, m := range mounts {
		if !nameRE.MatchString(m.Volume) || !path.IsAbs(m.Target) || path.Clean(m.Target) == "/" {
			return nil, fmt.Errorf("invalid mount %s:%s", m.Volume, m.Target)
		}
		ms = append(ms, mount.Mount{Type: mount.TypeVolume, Source: m.Volume, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	return ms, nil
}

func (d *Docker) removeHelper(ctx context.Context, id string) {
	if err := d.forceRemove(ctx, id); err != nil {
		d.log.Warn("helper container left behind", "container_id", id, "error", err)
	}
}

// helperStream removes its helper container when closed.
type helperStream struct {
	io.ReadCloser
	done func()
}

func (s *helperStream) Close() error {
	err := s.ReadCloser.Close()
	s.done()
	return err
}

// RemoveTree removes p (a file or directory inside one of the mounts) and
// everything under it; a p that does not exist is no error. Unlike the
// archive calls it runs rm from image, as root allowed to override file
// modes and nothing else, without a network.
func (d *Docker) RemoveTree(ctx context.Context, image string, mounts []Mount, p string) error {
	if image == "" {
		return errors.New("removing a tree needs an image")
	}
	ms, err := helperMounts(mounts)
	if err != nil {
		return err
	}
	inside := false
	for _, m := range mounts {
		inside = inside || strings.HasPrefix(path.Clean(p), path.Clean(m.Target)+"/")
	}
	if !inside {
		return fmt.Errorf("removing %s: not inside a mount", p)
	}
	cfg := &container.Config{Image: image, User: "0:0", Entrypoint: []string{"rm", "-rf", "--", path.Clean(p)},
		Labels: d.labelsFor(map[string]string{"labhub.helper": "true"})}
	host := &container.HostConfig{NetworkMode: "none", Mounts: ms, CapDrop: []string{"ALL"},
		CapAdd: []string{"DAC_OVERRIDE"}, SecurityOpt: []string{"no-new-privileges:true"}, LogConfig: logConfig()}
	exit, logs, err := d.runOnce(ctx, cfg, host)
	if err != nil {
		return fmt.Errorf("removing %s: %w", p, err)
	}
	if exit != 0 {
		return fmt.Errorf("removing %s: rm exited with %d: %s", p, exit, logs)
	}
	return nil
}
