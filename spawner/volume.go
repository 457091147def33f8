package spawner

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
)

// ownerRE matches a numeric "uid:gid".
var ownerRE = regexp.MustCompile(`^[0-9]{1,10}:[0-9]{1,10}$`)

// initMountPoint is where the init container sees the volume it prepares.
const initMountPoint = "/labhub-volume"

// EnsureVolume makes sure the named volume exists, with labels (plus
// LabelManaged) when it is created. created reports whether it was created
// by this call; an existing volume is left exactly as it is.
//
// When the volume is new and owner ("uid:gid", numeric) is not empty, its
// root is handed to owner by a short-lived init container run from image as
// root, without network and with only the CHOWN capability. The entrypoint is
// replaced by chown because images such as Jupyter Docker Stacks start
// through tini and a start script. If that fails the new volume is removed
// again, so that the next call retries instead of finding a volume owned by
// root. Note that the engine copies the image's content, and the ownership of
// the mount point, into an empty volume the first time a container mounts it
// over a non-empty directory.
func (d *Docker) EnsureVolume(ctx context.Context, name string, labels map[string]string, owner, image string) (created bool, err error) {
	if !nameRE.MatchString(name) {
		return false, fmt.Errorf("ensuring volume: invalid name %q", name)
	}
	if owner != "" {
		if err := CheckOwner(owner); err != nil {
			return false, fmt.Errorf("ensuring volume %s: %w", name, err)
		}
		if image == "" {
			return false, fmt.Errorf("ensuring volume %s: an image is needed to set its owner", name)
		}
	}
	_, err = d.inspectVolume(ctx, name)
	if err == nil {
		return false, nil
	}
	if !cerrdefs.IsNotFound(err) {
		return false, fmt.Errorf("inspecting volume %s: %w", name, err)
	}
	if err := d.createVolume(ctx, name, labels); err != nil {
		return false, err
	}
	if owner == "" {
		return true, nil
	}
	if err := d.chownVolume(ctx, name, labels, owner, image); err != nil {
		if rerr := d.RemoveVolume(context.WithoutCancel(ctx), name); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return false, fmt.Errorf("setting owner of volume %s: %w", name, err)
	}
	return true, nil
}

// CheckOwner rejects anything but a numeric "uid:gid" within 32 bits.
func CheckOwner(owner string) error {
	if !ownerRE.MatchString(owner) {
		return fmt.Errorf("owner %q is not a numeric uid:gid", owner)
	}
	uid, gid, _ := strings.Cut(owner, ":")
	for _, n := range []string{uid, gid} {
		if _, err := strconv.ParseUint(n, 10, 32); err != nil {
			return fmt.Errorf("owner %q out of range: %w", owner, err)
		}
	}
	return nil
}

func (d *Docker) inspectVolume(ctx context.Context, name string) (volume.Volume, error) {
	ctx, cancel := d.call(ctx)
	defer cancel()
	return d.cli.VolumeInspect(ctx, name)
}

func (d *Docker) createVolume(ctx context.Context, name string, labels map[string]string) error {
	ctx, cancel := d.call(ctx)
	defer cancel()
	if _, err := d.cli.VolumeCreate(ctx, volume.CreateOptions{Name: name, Labels: d.labelsFor(labels)}); err != nil {
		return fmt.Errorf("creating volume %s: %w", name, err)
	}
	d.log.Info("volume created", "volume", name)
	return nil
}

// chownVolume runs the init container that hands the root of volume name to
// owner.
func (d *Docker) chownVolume(ctx context.Context, name string, labels map[string]string, owner, image string) error {
	cfg := &container.Config{
		Image:      image,
		User:       "0:0",
		Entrypoint: []string{"chown", owner, initMountPoint},
		Labels:     d.labelsFor(labels),
	}
	cfg.Labels["labhub.init"] = "true"
	host := &container.HostConfig{
		NetworkMode: "none",
		Mounts:      []mount.Mount{{Type: mount.TypeVolume, Source: name, Target: initMountPoint}},
		CapDrop:     []string{"ALL"},
		CapAdd:      []string{"CHOWN"},
		SecurityOpt: []string{"no-new-privileges:true"},
		LogConfig:   logConfig(),
	}
	cctx, cancel := d.call(ctx)
	resp, err := d.cli.ContainerCreate(cctx, cfg, host, nil, nil, "")
	cancel()
	if err != nil {
		return fmt.Errorf("creating init container: %w", err)
	}
	defer func() {
		if err := d.forceRemove(ctx, resp.ID); err != nil {
			d.log.Warn("init container left behind", "container_id", resp.ID, "error", err)
		}
	}()

	cctx, cancel = d.call(ctx)
	defer cancel()
	// Waiting is registered before the start so a fast exit is not missed.
	waitC, errC := d.cli.ContainerWait(cctx, resp.ID, container.WaitConditionNextExit)
	if err := d.cli.ContainerStart(cctx, resp.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("starting init container: %w", err)
	}
	select {
	case w := <-waitC:
		if w.Error != nil {
			return fmt.Errorf("waiting for init container: %s", w.Error.Message)
		}
		if w.StatusCode != 0 {
			logs, _ := d.Logs(ctx, resp.ID, 20)
			return fmt.Errorf("init container exited with %d: %s", w.StatusCode, strings.TrimSpace(logs))
		}
	case err := <-errC:
		return fmt.Errorf("waiting for init container: %w", err)
	}
	return nil
}

// forceRemove removes a container whatever its state, on a context that
// survives the caller's cancellation: a leftover must not outlive a
// cancelled request.
func (d *Docker) forceRemove(ctx context.Context, id string) error {
	cctx, cancel := d.call(context.WithoutCancel(ctx))
	defer cancel()
	err := d.cli.ContainerRemove(cctx, id, container.RemoveOptions{Force: true})
	if err != nil && !cerrdefs.IsNotFound(err) && !removalInProgress(err) {
		return fmt.Errorf("removing container %s: %w", id, err)
	}
	return nil
}

// removalInProgress reports whether err says another caller is already
// removing the container, which is as good as removing it.
func removalInProgress(err error) bool {
	return cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress")
}

// RemoveVolume removes the named volume. A missing volume is not an error; a
// volume still used by a container is.
func (d *Docker) RemoveVolume(ctx context.Context, name string) error {
	ctx, cancel := d.call(ctx)
	defer cancel()
	err := d.cli.VolumeRemove(ctx, name, false)
	switch {
	case cerrdefs.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("removing volume %s: %w", name, err)
	}
	d.log.Info("volume removed", "volume", name)
	return nil
}

// ImagePresent reports whether the engine has the image ref.
func (d *Docker) ImagePresent(ctx context.Context, ref string) (bool, error) {
	ctx, cancel := d.call(ctx)
	defer cancel()
	if _, err := d.cli.ImageInspect(ctx, ref); err != nil {
		if cerrdefs.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("inspecting image %s: %w", ref, err)
	}
	return true, nil
}
