package handin_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/handin"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// env is a hand-in service on the real Docker engine with a student who has
// files in their home volume.
type env struct {
	t      *testing.T
	db     *store.DB
	d      *spawner.Docker
	svc    *handin.Service
	image  string
	user   store.User
	course store.Course
	act    store.Activity
	now    time.Time
}

const testLabel = "labhub.test"

func newEnv(t *testing.T, tune func(*handin.Options)) *env {
	cli := testutil.Docker(t)
	image := testutil.Image(t)
	prefix := fmt.Sprintf("h%06x", rand.Uint32()&0xffffff)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		vs, err := cli.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label",
			testLabel+"="+prefix))})
		require.NoError(t, err)
		for _, v := range vs.Volumes {
			require.NoError(t, cli.VolumeRemove(ctx, v.Name, true))
		}
	})
	d, err := spawner.New(spawner.Options{Logger: slog.New(slog.DiscardHandler), CallTimeout: 30 * time.Second,
		Labels: map[string]string{testLabel: prefix}})
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	e := &env{t: t, db: testutil.SQLite(t), d: d, image: image, now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	e.user = store.User{Name: prefix + ".student"}
	require.NoError(t, e.db.Create(&e.user).Error)
	e.course = store.Course{Provider: "lti13:1", ContextID: prefix, Slug: prefix + "-lti101"}
	require.NoError(t, e.db.Create(&e.course).Error)
	e.act = store.Activity{CourseID: e.course.ID, ResourceLinkID: "1", Title: "Lab 1: Vectors"}
	require.NoError(t, e.db.Create(&e.act).Error)
	opts := handin.Options{Files: d, Image: image, Instance: "test", VolumeOwner: "1000:100",
		NotebookDir: "/home/jovyan", Now: func() time.Time { return e.now }, Logger: slog.New(slog.DiscardHandler)}
	if tune != nil {
		tune(&opts)
	}
	e.svc = handin.New(e.db, opts)
	return e
}

type entry struct {
	name, body, link string
	dir              bool
}

// home writes entries into the student's home volume, owned by the
// notebook user as a server would leave them.
func (e *env) home(entries ...entry) {
	e.t.Helper()
	vol := spawner.HomeVolumeName(e.user.Name, e.course.Slug)
	_, err := e.d.EnsureVolume(context.Background(), vol, nil, "1000:100", e.image)
	require.NoError(e.t, err)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range entries {
		h := &tar.Header{Name: f.name, Mode: 0o644, Uid: 1000, Gid: 100, Size: int64(len(f.body)),
			Typeflag: tar.TypeReg, ModTime: e.now.Add(-time.Hour)}
		switch {
		case f.dir:
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case f.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.link, 0
		}
		require.NoError(e.t, tw.WriteHeader(h))
		_, err := tw.Write([]byte(f.body))
		require.NoError(e.t, err)
	}
	require.NoError(e.t, tw.Close())
	require.NoError(e.t, e.d.WriteTar(context.Background(), e.image,
		[]spawner.Mount{{Volume: vol, Target: "/home"}}, "/home", &buf))
}

// raw returns the headers and contents under p in the hand-in volume.
func (e *env) raw(p string) (map[string]*tar.Header, map[string]string) {
	e.t.Helper()
	rc, err := e.d.ReadTar(context.Background(), e.image, []spawner.Mount{{Volume: spawner.HandinVolumeName(
		e.course.Slug), Target: "/h", ReadOnly: true}}, "/h/"+p)
	require.NoError(e.t, err)
	defer rc.Close()
	hdrs, bodies := map[string]*tar.Header{}, map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(e.t, err)
		b, _ := io.ReadAll(tr)
		hdrs[h.Name], bodies[h.Name] = h, string(b)
	}
	return hdrs, bodies
}

func (e *env) handIn(paths ...string) (*store.Handin, error) {
	return e.svc.HandIn(context.Background(), handin.Request{User: e.user, Course: e.course, Activity: e.act,
		Paths: paths, Source: "test"})
}

func TestHandInCopiesReadOnly(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.home(entry{name: "lab1/", dir: true}, entry{name: "lab1/vectors.ipynb", body: `{"cells":[1]}`},
		entry{name: "lab1/data/", dir: true}, entry{name: "lab1/data/points.csv", body: "x,y\n1,2\n"},
		entry{name: "lab1/.ipynb_checkpoints/", dir: true},
		entry{name: "lab1/.ipynb_checkpoints/vectors-checkpoint.ipynb", body: "old"},
		entry{name: "lab1/passwd", link: "/etc/passwd"},
		entry{name: "notes/", dir: true}, entry{name: "notes/report.md", body: "# Report"},
		entry{name: "secret.txt", body: "not handed in"})

	h, err := e.handIn("lab1", "/home/jovyan/notes/report.md", "lab1/data/points.csv", " ")
	require.NoError(t, err)
	require.Equal(t, store.HandinDone, h.State)
	require.Equal(t, 3, h.Files, "two files of lab1 and the report; no link, no checkpoint")
	require.Equal(t, int64(len(`{"cells":[1]}`)+len("x,y\n1,2\n")+len("# Report")), h.Bytes)
	require.Regexp(t, "^"+regexp.QuoteMeta("lab-1-vectors-"+fmt.Sprint(e.act.ID)+"/"+spawner.Escape(e.user.Name)+
		"/20260301T100000Z-")+"[0-9a-f]{8}$", h.Path)
	require.Equal(t, "lab1\nnotes/report.md", h.Paths)

	files, err := e.svc.Files(ctx, e.course, *h)
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, f.Path)
	}
	require.Equal(t, []string{"lab1", "lab1/data", "lab1/data/points.csv", "lab1/vectors.ipynb", "notes",
		"notes/report.md"}, names)
	rc, size, err := e.svc.Open(ctx, e.course, *h, "lab1/vectors.ipynb")
	require.NoError(t, err)
	b, _ := io.ReadAll(rc)
	rc.Close()
	require.Equal(t, `{"cells":[1]}`, string(b))
	require.Equal(t, int64(len(b)), size)
	for _, bad := range []string{"../x", "lab1", "lab1/passwd", "nothing"} {
		_, _, err := e.svc.Open(ctx, e.course, *h, bad)
		require.ErrorIs(t, err, handin.ErrNotFound, bad)
	}

	// In the volume everything belongs to root and nothing is writable.
	hdrs, bodies := e.raw(h.Path)
	require.NotEmpty(t, hdrs)
	for name, hd := range hdrs {
		require.Zero(t, hd.Uid, name)
		require.Zero(t, hd.Gid, name)
		if hd.Typeflag == tar.TypeDir {
			require.EqualValues(t, 0o555, hd.Mode&0o777, name)
		} else {
			require.EqualValues(t, tar.TypeReg, hd.Typeflag, name)
			require.EqualValues(t, 0o444, hd.Mode&0o777, name)
		}
	}
	require.Equal(t, "# Report", bodies[path.Base(h.Path)+"/notes/report.md"])
	top, _ := e.raw("")
	require.Zero(t, top["h/"].Uid)
	require.Zero(t, top["h/"].Mode&0o022, "the volume's root is writable by root only")
	name := "h/lab-1-vectors-" + fmt.Sprint(e.act.ID) + "/"
	require.Contains(t, top, name)
	require.EqualValues(t, 0o555, top[name].Mode&0o777, name)
}

// A later hand-in, even in the same second, goes to its own directory and
// leaves the earlier one exactly as it was.
func TestLaterHandInsKeepEarlierOnes(t *testing.T) {
	e := newEnv(t, nil)
	e.home(entry{name: "answer.txt", body: "first"})
	first, err := e.handIn("answer.txt")
	require.NoError(t, err)
	e.home(entry{name: "answer.txt", body: "second"})
	second, err := e.handIn("answer.txt")
	require.NoError(t, err)
	require.NotEqual(t, first.Path, second.Path)
	require.Equal(t, path.Dir(first.Path), path.Dir(second.Path))
	e.now = e.now.Add(time.Minute)
	e.home(entry{name: "answer.txt", body: "third"})
	third, err := e.handIn("answer.txt")
	require.NoError(t, err)
	require.NotEqual(t, first.Path, third.Path)

	for h, want := range map[*store.Handin]string{first: "first", second: "second", third: "third"} {
		rc, _, err := e.svc.Open(context.Background(), e.course, *h, "answer.txt")
		require.NoError(t, err)
		b, _ := io.ReadAll(rc)
		rc.Close()
		require.Equal(t, want, string(b))
	}
	list, err := e.svc.List(context.Background(), e.act.ID, e.user.ID)
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.Equal(t, first.ID, list[0].ID)
}

func TestHandInRefusals(t *testing.T) {
	e := newEnv(t, func(o *handin.Options) { o.MaxFiles, o.MaxBytes = 2, 10 })
	e.home(entry{name: "a.txt", body: "12345"}, entry{name: "b.txt", body: "12345"}, entry{name: "c.txt", body: "1"},
		entry{name: "big.bin", body: "0123456789A"}, entry{name: "empty/", dir: true})
	for paths, want := range map[string][]string{
		"Choose at least one":                    {" ", ""},
		"not a file or folder inside":            {"../etc/passwd"},
		"is not in your home folder":             {"/etc/passwd"},
		"There is no missing.txt":                {"missing.txt"},
		"at most 2 files":                        {"a.txt", "b.txt", "c.txt"},
		"at most 10 bytes":                       {"big.bin"},
		"There are no files":                     {"empty"},
		"not a file or folder inside your home.": {"/home/jovyan"},
	} {
		_, err := e.handIn(want...)
		var he *handin.Error
		require.ErrorAs(t, err, &he, paths)
		require.Contains(t, he.Msg, paths[:len(paths)-1])
	}
	var n int64
	require.NoError(t, e.db.Model(&store.Handin{}).Count(&n).Error)
	require.Zero(t, n, "a refused hand-in leaves no record")
	// Nor files: the user's directory was never written.
	rc, err := e.d.ReadTar(context.Background(), e.image, []spawner.Mount{{Volume: spawner.HandinVolumeName(
		e.course.Slug), Target: "/h", ReadOnly: true}}, "/h/lab-1-vectors-"+fmt.Sprint(e.act.ID))
	require.ErrorIs(t, err, spawner.ErrNotFound)
	if rc != nil {
		rc.Close()
	}

	_, err = e.handIn("a.txt", "b.txt")
	require.NoError(t, err, "within the limits")
}

// A due date with a lock closes hand-ins once it has passed.
func TestDueDateLocks(t *testing.T) {
	e := newEnv(t, nil)
	e.home(entry{name: "a.txt", body: "x"})
	due := e.now.Add(time.Hour)
	require.NoError(t, e.db.Create(&store.Assignment{ActivityID: e.act.ID, ScoreMaximum: 10, DueAt: &due,
		LockAtDue: true}).Error)
	_, err := e.handIn("a.txt")
	require.NoError(t, err, "before the due date")
	var a store.Assignment
	require.NoError(t, e.db.Where("activity_id = ?", e.act.ID).First(&a).Error)
	require.Equal(t, "lab-1-vectors-"+fmt.Sprint(e.act.ID), a.HandinDir, "named by the first hand-in")
	require.Equal(t, 10.0, a.ScoreMaximum, "grading settings stay")

	e.now = due.Add(time.Second)
	_, err = e.handIn("a.txt")
	var he *handin.Error
	require.ErrorAs(t, err, &he)
	require.Equal(t, "Hand-ins for this activity closed at 2026-03-01 11:00 UTC.", he.Msg)
	require.True(t, he.Closed)

	// Without the lock a due date only informs.
	require.NoError(t, e.db.Model(&store.Assignment{}).Where("id = ?", a.ID).Update("lock_at_due", false).Error)
	_, err = e.handIn("a.txt")
	require.NoError(t, err)
}

// failingFiles is the engine, except that WriteTar extracts an archive
// without its last entry and then fails, as a copy cut short.
type failingFiles struct {
	*spawner.Docker
	fail bool
	// wrote are the names of the entries a failed copy left.
	wrote []string
}

func (f *failingFiles) WriteTar(ctx context.Context, image string, mounts []spawner.Mount, dir string, r io.Reader) error {
	if !f.fail {
		return f.Docker.WriteTar(ctx, image, mounts, dir, r)
	}
	type item struct {
		h    *tar.Header
		body []byte
	}
	var items []item
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		items = append(items, item{h, b})
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, it := range items[:len(items)-1] {
		if err := tw.WriteHeader(it.h); err != nil {
			return err
		}
		if _, err := tw.Write(it.body); err != nil {
			return err
		}
		f.wrote = append(f.wrote, it.h.Name)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Docker.WriteTar(ctx, image, mounts, dir, &buf); err != nil {
		return err
	}
	return errors.New("copy cut short")
}

// A copy that fails part way leaves nothing behind, and a hand-in in the
// same second goes to a path of its own.
func TestFailedCopyLeavesNothing(t *testing.T) {
	ff := &failingFiles{fail: true}
	e := newEnv(t, func(o *handin.Options) {
		ff.Docker = o.Files.(*spawner.Docker)
		o.Files = ff
	})
	e.home(entry{name: "lab/", dir: true}, entry{name: "lab/a.txt", body: "a"}, entry{name: "lab/b.txt", body: "b"})
	_, err := e.handIn("lab")
	require.Error(t, err)
	require.GreaterOrEqual(t, len(ff.wrote), 3)
	// Entries are <activity>/, <activity>/<user>/, then the hand-in's path.
	failed := strings.TrimSuffix(ff.wrote[2], "/")
	var n int64
	require.NoError(t, e.db.Model(&store.Handin{}).Count(&n).Error)
	require.Zero(t, n, "the failed hand-in is not recorded")
	_, err = e.d.ReadTar(context.Background(), e.image, []spawner.Mount{{Volume: spawner.HandinVolumeName(
		e.course.Slug), Target: "/h", ReadOnly: true}}, "/h/"+failed)
	require.ErrorIs(t, err, spawner.ErrNotFound, "the failed copy's files are removed")

	ff.fail = false
	h, err := e.handIn("lab")
	require.NoError(t, err)
	require.NotEqual(t, failed, h.Path, "the same second gives another path")
	require.False(t, strings.HasPrefix(h.Path, failed+"/"))
	_, bodies := e.raw(h.Path)
	require.Equal(t, "a", bodies[path.Base(h.Path)+"/lab/a.txt"])
	require.Len(t, bodies, 4, "the hand-in's directory, lab and its two files, nothing left over")
}
