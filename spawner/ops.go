package spawner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// maxLogBytes bounds what Logs reads, whatever tail asks for.
const maxLogBytes = 1 << 20

// Logs returns the last tail lines the container id wrote to stdout and
// stderr, interleaved as written, so that an admin can see why a server
// failed to start. tail <= 0 asks for the whole log; either way at most 1 MiB
// of log is read.
func (d *Docker) Logs(ctx context.Context, id string, tail int) (string, error) {
	t := "all"
	if tail > 0 {
		t = strconv.Itoa(tail)
	}
	ctx, cancel := d.call(ctx)
	defer cancel()
	rc, err := d.cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: t})
	if err != nil {
		return "", fmt.Errorf("reading logs of %s: %w", id, notFound(err))
	}
	defer rc.Close()
	var buf bytes.Buffer
	// Without a TTY the engine multiplexes both streams in frames; writing
	// both to one buffer keeps their order.
	_, err = stdcopy.StdCopy(&buf, &buf, io.LimitReader(rc, maxLogBytes))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return buf.String(), fmt.Errorf("reading logs of %s: %w", id, err)
	}
	return buf.String(), nil
}

// MemoryUsage returns the memory the running container id uses, in bytes,
// counted as the docker CLI does: usage without the inactive file cache,
// which the kernel reclaims before it would kill the container.
func (d *Docker) MemoryUsage(ctx context.Context, id string) (uint64, error) {
	ctx, cancel := d.call(ctx)
	defer cancel()
	resp, err := d.cli.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("reading stats of %s: %w", id, notFound(err))
	}
	defer resp.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("decoding stats of %s: %w", id, err)
	}
	// A container that does not run has no cgroup to read from.
	if st.Read.IsZero() || st.MemoryStats.Usage == 0 {
		return 0, fmt.Errorf("no memory stats for %s: container not running", id)
	}
	usage := st.MemoryStats.Usage
	// cgroup v1 calls it total_inactive_file, cgroup v2 inactive_file.
	inactive, ok := st.MemoryStats.Stats["total_inactive_file"]
	if !ok {
		inactive = st.MemoryStats.Stats["inactive_file"]
	}
	if inactive < usage {
		usage -= inactive
	}
	return usage, nil
}
