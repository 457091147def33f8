package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/volume"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// course export and course delete find the volumes of a hub with its own
// name prefix, as the web pages do: export writes the student's files under
// the web export's name, and delete removes the prefixed volumes. Neither
// creates volumes of the default prefix.
func TestCourseCommandsUseNamePrefix(t *testing.T) {
	cli := testutil.Docker(t)
	image := testutil.Image(t)
	ctx := t.Context()
	prefix := fmt.Sprintf("clifix%06x", rand.Uint32()&0xffffff)
	slug := prefix + "c"
	names := spawner.Names{Prefix: prefix}
	home, err := names.Home("demo-student", slug)
	require.NoError(t, err)
	vols := []string{home, names.Shared(slug), names.Handins(slug)}
	defaultHome, err := spawner.Names{}.Home("demo-student", slug)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, v := range append(vols, defaultHome) {
			_ = cli.VolumeRemove(ctx, v, true)
		}
	})

	dir := t.TempDir()
	db, err := store.Open(ctx, "", dir, nil)
	require.NoError(t, err)
	_, err = labhub(t, nil, "migrate", "--data-dir", dir)
	require.NoError(t, err)
	c := store.Course{Provider: "test", ContextID: slug, Slug: slug, Title: "CLI test"}
	require.NoError(t, db.Create(&c).Error)
	u := store.User{Name: "demo-student"}
	require.NoError(t, db.Create(&u).Error)
	require.NoError(t, db.Create(&store.Server{UserID: u.ID, CourseID: c.ID, Name: slug, State: store.StateStopped}).Error)
	db.Close()

	d, err := spawner.New(spawner.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer d.Close()
	for _, v := range vols {
		_, err := d.EnsureVolume(ctx, v, nil, "1000:100", image)
		require.NoError(t, err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Uid: 1000, Gid: 100, Size: 5}))
	_, _ = tw.Write([]byte("hello"))
	require.NoError(t, tw.Close())
	require.NoError(t, d.WriteTar(ctx, image, []spawner.Mount{{Volume: home, Target: "/home/x"}}, "/home/x", &buf))

	hub := []string{"--data-dir", dir, "--name-prefix", prefix, "--network", "clifixnet", "--image", image}
	out := filepath.Join(t.TempDir(), "export")
	got, err := labhub(t, nil, append([]string{"course", "export", slug, "--out", out}, hub...)...)
	require.NoError(t, err, got)
	archive := filepath.Join(out, "demo-student.tar.gz")
	require.Contains(t, got, archive)
	require.Equal(t, map[string]string{"home/hello.txt": "hello"}, readArchive(t, archive))
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left")
	_, err = cli.VolumeInspect(ctx, defaultHome)
	require.Error(t, err, "export created a volume of the default prefix")

	got, err = labhub(t, nil, append([]string{"course", "delete", slug, "--yes"}, hub...)...)
	require.NoError(t, err, got)
	left, err := cli.VolumeList(ctx, volume.ListOptions{})
	require.NoError(t, err)
	for _, v := range left.Volumes {
		require.NotContains(t, vols, v.Name, "course delete left a volume")
	}
}

// readArchive returns the regular files of a gzipped tar archive.
func readArchive(t *testing.T, p string) map[string]string {
	t.Helper()
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		require.NoError(t, err)
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			files[h.Name] = string(b)
		}
	}
}
