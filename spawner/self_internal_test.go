package spawner

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
)

func TestSelfCandidates(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	other := strings.Repeat("fedcba9876543210", 4)
	cases := []struct {
		name      string
		mountinfo string
		cgroup    string
		hostname  string
		want      []string
	}{
		{
			name: "docker cgroup v2 private namespace",
			mountinfo: "731 708 254:1 /var/lib/docker/containers/" + id + "/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw\n" +
				"732 708 254:1 /var/lib/docker/containers/" + id + "/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw\n",
			cgroup:   "0::/\n",
			hostname: "myhub",
			want:     []string{id},
		},
		{
			name:      "docker root on its own file system",
			mountinfo: "40 30 8:17 /docker/containers/" + id + "/hosts /etc/hosts rw - xfs /dev/sdb1 rw\n",
			want:      []string{id},
		},
		{
			name:     "cgroup v1 only",
			cgroup:   "12:memory:/docker/" + id + "\n11:pids:/docker/" + id + "\n0::/\n",
			hostname: id[:12],
			want:     []string{id, id[:12]},
		},
		{
			name:   "systemd scope",
			cgroup: "0::/system.slice/docker-" + id + ".scope\n",
			want:   []string{id},
		},
		{
			name:      "podman",
			mountinfo: "900 800 0:44 /containers/storage/overlay-containers/" + id + "/userdata/hostname /etc/hostname rw - tmpfs tmpfs rw\n",
			want:      []string{id},
		},
		{
			name:     "default hostname only",
			cgroup:   "0::/\n",
			hostname: id[:12],
			want:     []string{id[:12]},
		},
		{
			name: "host with running containers",
			mountinfo: "567 29 0:52 / /var/lib/docker/containers/" + other + "/mounts/shm rw,nosuid shared:300 - tmpfs shm rw\n" +
				"580 29 0:60 / /var/lib/docker/overlay2/" + other + "/merged rw - overlay overlay rw\n" +
				"25 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw\n",
			cgroup:   "4:memory:/process_api/0fbabfa8c0ba6e727396c712926d7a81\n0::/\n",
			hostname: "vm",
		},
		{
			name:      "hostname mount of another path",
			mountinfo: "10 1 8:1 /var/lib/docker/containers/" + other + "/hostname /srv/copy rw - ext4 /dev/sda1 rw\n",
		},
		{
			name:     "hostname that is a container name",
			hostname: "labhub-alice--intro",
		},
		{
			name:     "uppercase or long hostnames",
			hostname: strings.ToUpper(id[:12]),
		},
		{
			name:      "garbage",
			mountinfo: "\x00\n\n one two\n1 2 3 4 /etc/hostname\n",
			cgroup:    ":::\nnocolon\n1:x:/docker/" + id[:63] + "\n1:x:/docker/" + id + "x\n",
			hostname:  id[:11],
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := selfCandidates([]byte(tc.mountinfo), []byte(tc.cgroup), tc.hostname)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestSelfContainerVerifies checks that candidates are confirmed with the
// engine: a hostname that names some container but is not its ID prefix is
// rejected, and an ID that exists is accepted.
func TestSelfContainerVerifies(t *testing.T) {
	cli := testutil.Docker(t)
	image := testutil.Image(t)
	d, err := New(Options{CallTimeout: 30 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	ctx := t.Context()

	// A container whose name looks like a default hostname.
	fakeHost := fmt.Sprintf("%012x", rand.Uint64()&0xffffffffffff)
	resp, err := cli.ContainerCreate(ctx, &container.Config{
		Image:  image,
		Cmd:    []string{"true"},
		Labels: map[string]string{"labhub.test": t.Name()},
	}, &container.HostConfig{NetworkMode: "none"}, nil, nil, fakeHost)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = cli.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true})
	})
	require.False(t, strings.HasPrefix(resp.ID, fakeHost), "random name happens to prefix the ID; rerun")

	noFiles := func(string) ([]byte, error) { return nil, os.ErrNotExist }
	mountinfoOf := func(id string) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) {
			if name == "/proc/self/mountinfo" {
				return []byte("1 2 3:4 /var/lib/docker/containers/" + id + "/hostname /etc/hostname rw - ext4 x rw\n"), nil
			}
			return nil, errors.New("unreadable")
		}
	}
	cases := []struct {
		name     string
		read     func(string) ([]byte, error)
		hostname string
		wantOK   bool
	}{
		{"hostname naming a container", noFiles, fakeHost, false},
		{"unknown id", mountinfoOf(strings.Repeat("ab", 32)), "", false},
		{"existing id", mountinfoOf(resp.ID), "", true},
		{"existing id prefix as hostname", noFiles, resp.ID[:12], true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, ok, err := d.selfContainer(ctx, tc.read, tc.hostname)
			require.NoError(t, err)
			require.Equal(t, tc.wantOK, ok)
			if tc.wantOK {
				require.Equal(t, resp.ID, id)
			} else {
				require.Empty(t, id)
			}
		})
	}
}
