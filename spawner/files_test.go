package spawner_test

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/spawner"
)

// Files go in and out of volumes through a helper container that never
// runs: owner and mode come from the tar headers, and read-only mounts stay
// read-only.
func TestReadWriteTar(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	src := spawner.HomeVolumeName(e.prefix, "files")
	dst := spawner.SharedVolumeName(e.prefix + "-files")
	for _, v := range []string{src, dst} {
		_, err := e.d.EnsureVolume(ctx, v, e.labels(""), "1000:100", e.image)
		require.NoError(t, err)
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name, body string
		mode       int64
	}{{"lab/", "", 0o755}, {"lab/notebook.ipynb", `{"cells":[]}`, 0o644}, {"lab/data.csv", "a,b\n1,2\n", 0o444}} {
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: 1000, Gid: 100, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
		if f.body == "" && f.name[len(f.name)-1] == '/' {
			h.Typeflag = tar.TypeDir
		}
		require.NoError(t, tw.WriteHeader(h))
		_, err := tw.Write([]byte(f.body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	mounts := []spawner.Mount{{Volume: src, Target: "/src"}, {Volume: dst, Target: "/dst"}}
	require.NoError(t, e.d.WriteTar(ctx, e.image, mounts, "/src", &buf))

	rc, err := e.d.ReadTar(ctx, e.image, mounts, "/src/lab")
	require.NoError(t, err)
	tr := tar.NewReader(rc)
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(b)
		if h.Name == "lab/data.csv" {
			require.Equal(t, 1000, h.Uid)
			require.Equal(t, 100, h.Gid)
			require.EqualValues(t, 0o444, h.Mode&0o777)
		}
	}
	require.NoError(t, rc.Close())
	require.Equal(t, `{"cells":[]}`, got["lab/notebook.ipynb"])
	require.Equal(t, "a,b\n1,2\n", got["lab/data.csv"])

	// Copy between volumes: what comes out of one goes into the other.
	rc, err = e.d.ReadTar(ctx, e.image, mounts, "/src/lab")
	require.NoError(t, err)
	require.NoError(t, e.d.WriteTar(ctx, e.image, mounts, "/dst", rc))
	require.NoError(t, rc.Close())
	rc, err = e.d.ReadTar(ctx, e.image, []spawner.Mount{{Volume: dst, Target: "/dst", ReadOnly: true}}, "/dst/lab/notebook.ipynb")
	require.NoError(t, err)
	tr = tar.NewReader(rc)
	h, err := tr.Next()
	require.NoError(t, err)
	require.Equal(t, "notebook.ipynb", h.Name)
	require.NoError(t, rc.Close())

	// A read-only mount refuses writes.
	buf.Reset()
	tw = tar.NewWriter(&buf)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "x", Mode: 0o644, Size: 1}))
	_, _ = tw.Write([]byte("x"))
	require.NoError(t, tw.Close())
	err = e.d.WriteTar(ctx, e.image, []spawner.Mount{{Volume: dst, Target: "/dst", ReadOnly: true}}, "/dst", &buf)
	require.Error(t, err)

	_, err = e.d.ReadTar(ctx, e.image, mounts, "/src/missing")
	require.ErrorIs(t, err, spawner.ErrNotFound)

	// Reading from a volume that does not exist creates none.
	gone := spawner.HomeVolumeName(e.prefix, "never")
	_, err = e.d.ReadTar(ctx, e.image, []spawner.Mount{{Volume: gone, Target: "/gone", ReadOnly: true}}, "/gone")
	require.ErrorIs(t, err, spawner.ErrNotFound)
	_, err = e.cli.VolumeInspect(ctx, gone)
	require.Error(t, err, "reading must not create the volume")

	// RemoveTree removes a directory, read-only files included, and only
	// inside a mount; a missing path is no error.
	require.NoError(t, e.d.RemoveTree(ctx, e.image, mounts, "/dst/lab"))
	_, err = e.d.ReadTar(ctx, e.image, mounts, "/dst/lab")
	require.ErrorIs(t, err, spawner.ErrNotFound)
	require.NoError(t, e.d.RemoveTree(ctx, e.image, mounts, "/dst/lab"))
	require.ErrorContains(t, e.d.RemoveTree(ctx, e.image, mounts, "/etc"), "not inside a mount")
	require.ErrorContains(t, e.d.RemoveTree(ctx, e.image, mounts, "/dst"), "not inside a mount")
	rc, err = e.d.ReadTar(ctx, e.image, mounts, "/src/lab/data.csv")
	require.NoError(t, err, "the other volume is untouched")
	require.NoError(t, rc.Close())

	// No helper container is left behind.
	left, err := e.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", "labhub.helper=true"), filters.Arg("label", testLabel+"="+e.test))})
	require.NoError(t, err)
	require.Empty(t, left)
}
