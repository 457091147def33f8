package spawner_test

import (
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/spawner"
)

func TestVolumesOwnerAndReadOnly(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	home := spawner.HomeVolumeName(e.prefix, "c")
	shared := spawner.SharedVolumeName(e.prefix + "-course")

	created, err := e.d.EnsureVolume(ctx, home, e.labels("srv-1"), "1000:100", e.image)
	require.NoError(t, err)
	require.True(t, created)
	v, err := e.cli.VolumeInspect(ctx, home)
	require.NoError(t, err)
	require.Equal(t, "true", v.Labels[spawner.LabelManaged])
	require.Equal(t, "srv-1", v.Labels[spawner.LabelServerID])
	// The init container is gone.
	left, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", testLabel+"="+e.test))})
	require.NoError(t, err)
	require.Empty(t, left)

	created, err = e.d.EnsureVolume(ctx, home, e.labels("srv-1"), "1000:100", e.image)
	require.NoError(t, err)
	require.False(t, created, "second call finds it")

	created, err = e.d.EnsureVolume(ctx, shared, e.labels(""), "", "")
	require.NoError(t, err)
	require.True(t, created)

	spec := e.httpSpec("c", "srv-1")
	spec.User = "1000:100"
	spec.Mounts = []spawner.Mount{
		{Volume: home, Target: "/home/jovyan/work"},
		{Volume: shared, Target: "/home/jovyan/shared", ReadOnly: true},
	}
	s := e.start(t, spec)

	cases := []struct {
		name     string
		user     string
		cmd      []string
		wantCode int // 0 or "not 0" (-1)
		wantOut  string
	}{
		{"home owned by jovyan", "", []string{"stat", "-c", "%u:%g", "/home/jovyan/work"}, 0, "1000:100"},
		{"write home as jovyan", "", []string{"sh", "-c", "echo hi > /home/jovyan/work/f && cat /home/jovyan/work/f"}, 0, "hi"},
		{"write shared as jovyan", "", []string{"touch", "/home/jovyan/shared/f"}, -1, "Read-only file system"},
		{"write shared as root", "0:0", []string{"touch", "/home/jovyan/shared/f"}, -1, "Read-only file system"},
		{"remount shared as root", "0:0", []string{"mount", "-o", "remount,rw", "/home/jovyan/shared"}, -1, "permission denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, code := e.exec(t, s.ID, tc.user, tc.cmd...)
			if tc.wantCode == 0 {
				require.Zero(t, code, out)
			} else {
				require.NotZero(t, code, out)
			}
			require.Contains(t, out, tc.wantOut)
		})
	}

	// In use: removal fails and the volume stays; after Stop it goes.
	require.Error(t, e.d.RemoveVolume(ctx, home))
	require.NoError(t, e.d.Stop(ctx, s.ID, time.Second))
	require.NoError(t, e.d.RemoveVolume(ctx, home))
	_, err = e.cli.VolumeInspect(ctx, home)
	require.Error(t, err)
	require.NoError(t, e.d.RemoveVolume(ctx, home), "removing a missing volume")
}

func TestEnsureVolumeRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, owner, image string
		volume             string // "" -> a valid fresh name
	}{
		{"path as volume name", "1000:100", e.image, "/tmp/" + e.prefix},
		{"traversal as volume name", "", "", "../" + e.prefix},
		{"name", "jovyan:users", e.image, ""},
		{"uid only", "1000", e.image, ""},
		{"three parts", "1000:100:1", e.image, ""},
		{"negative", "-1:0", e.image, ""},
		{"shell", "1000:100;rm -rf /", e.image, ""},
		{"option", "--reference=/etc:0", e.image, ""},
		{"too large", "4294967296:0", e.image, ""},
		{"spaces", " 1000:100", e.image, ""},
		{"no image", "1000:100", "", ""},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.volume
			if name == "" {
				name = spawner.HomeVolumeName(e.prefix, string(rune('a'+i)))
			}
			created, err := e.d.EnsureVolume(t.Context(), name, e.labels(""), tc.owner, tc.image)
			require.Error(t, err)
			require.False(t, created)
			_, err = e.cli.VolumeInspect(t.Context(), name)
			require.Error(t, err, "no volume is left behind")
		})
	}
}

func TestEnsureVolumeRemovesVolumeWhenChownFails(t *testing.T) {
	e := newEnv(t)
	name := spawner.HomeVolumeName(e.prefix, "c")
	// An image without chown: an unknown image makes the init container
	// fail to be created at all.
	created, err := e.d.EnsureVolume(t.Context(), name, e.labels(""), "1000:100", "labhub/does-not-exist:"+e.prefix)
	require.Error(t, err)
	require.False(t, created)
	_, err = e.cli.VolumeInspect(t.Context(), name)
	require.Error(t, err, "the half-made volume is removed so the next call retries")
}

func TestLongestNamesWork(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	user := e.prefix + strings.Repeat("u", 200)
	server := strings.Repeat("ü", 200)
	name := spawner.ContainerName(user, server)
	home := spawner.HomeVolumeName(user, server)
	require.Greater(t, len(home), len(name))

	created, err := e.d.EnsureVolume(ctx, home, e.labels(""), "1000:100", e.image)
	require.NoError(t, err)
	require.True(t, created)
	spec := e.httpSpec("", "srv-long")
	spec.Name = name
	spec.Mounts = []spawner.Mount{{Volume: home, Target: "/home/jovyan/work"}}
	s := e.start(t, spec)
	require.Equal(t, name, s.Name)
	out, code := e.exec(t, s.ID, "", "touch", "/home/jovyan/work/f")
	require.Zero(t, code, out)
	got, err := e.d.Inspect(ctx, name, "")
	require.NoError(t, err)
	require.Equal(t, s.ID, got.ID)
}

func TestImagePresent(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name    string
		ref     string
		want    bool
		wantErr bool
	}{
		{"test image", e.image, true, false},
		{"missing tag", "labhub/notebook:missing-" + e.prefix, false, false},
		{"missing repo", "labhub/nothing-" + e.prefix, false, false},
		{"invalid reference", "Not A Valid:Ref", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.d.ImagePresent(t.Context(), tc.ref)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
