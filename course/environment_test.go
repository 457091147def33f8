package course_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// fullEngine is the scriptable engine with the course-environment calls:
// pulls wait for release and are counted, networks are recorded.
type fullEngine struct {
	*engine
	pulls    atomic.Int32
	release  chan struct{}
	mu       sync.Mutex
	present  map[string]bool
	networks map[string]spawner.NetworkOptions
	memory   uint64
	removed  []string
	read     []string
	// trees holds the archives ReadTar gives, by path: entry name to
	// content, directories ending in "/".
	trees   map[string]map[string]string
	written map[string]string
}

func newFullEngine(e *engine) *fullEngine {
	return &fullEngine{engine: e, release: make(chan struct{}), present: map[string]bool{},
		networks: map[string]spawner.NetworkOptions{}}
}

func (e *fullEngine) ImagePresent(_ context.Context, ref string) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.present[ref], nil
}

func (e *fullEngine) Pull(ctx context.Context, ref string, progress func(spawner.PullProgress)) error {
	e.pulls.Add(1)
	progress(spawner.PullProgress{Layers: 2, Status: "Pulling fs layer"})
	progress(spawner.PullProgress{Layers: 2, LayersDone: 1, Status: "Pull complete"})
	select {
	case <-e.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	progress(spawner.PullProgress{Layers: 2, LayersDone: 2, Status: "Pull complete"})
	e.mu.Lock()
	e.present[ref] = true
	e.mu.Unlock()
	return nil
}

func (e *fullEngine) EnsureNetworkWith(_ context.Context, name string, opts spawner.NetworkOptions) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.networks[name] = opts
	return nil
}

func (e *fullEngine) RemoveNetwork(context.Context, string) error { return nil }
func (e *fullEngine) RemoveVolume(_ context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.removed = append(e.removed, name)
	return nil
}
func (e *fullEngine) ReadTar(_ context.Context, _ string, mounts []spawner.Mount, p string) (io.ReadCloser, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range mounts {
		e.read = append(e.read, m.Volume)
	}
	files, ok := e.trees[p]
	if !ok {
		return nil, spawner.ErrNotFound
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}
		if strings.HasSuffix(name, "/") {
			h.Mode, h.Size, h.Typeflag = 0o755, 0, tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, files[name]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return io.NopCloser(&buf), nil
}

// WriteTar records the files of the archive under dir in written.
func (e *fullEngine) WriteTar(_ context.Context, _ string, _ []spawner.Mount, dir string, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		e.mu.Lock()
		if e.written == nil {
			e.written = map[string]string{}
		}
		e.written[path.Join(dir, h.Name)] = string(b)
		e.mu.Unlock()
	}
}
func (e *fullEngine) MemoryUsage(context.Context, string) (uint64, error) { return e.memory, nil }
func (e *fullEngine) WatchOOM(ctx context.Context, _ map[string]string, _ func(spawner.OOMEvent)) error {
	<-ctx.Done()
	return ctx.Err()
}

func authFor(db *store.DB) *auth.Service { return auth.New(db, []byte("k"), nil) }

func itoa(id uint) string { return strconv.FormatUint(uint64(id), 10) }

// newEnvMgr is newMgr with the full engine and options changed by opt.
func newEnvMgr(t *testing.T, opt func(*course.Options)) (*mgrFixture, *fullEngine) {
	f := newMgr(t)
	fe := newFullEngine(f.engine)
	opts := course.Options{
		PublicURL: "https://hub.example/", HubAPIURL: "http://10.0.0.1:8081/hub/api", Network: "net", Instance: "inst",
		DefaultImage: "img", NotebookDir: "/home/jovyan", VolumeOwner: "1000:100", IdleTimeout: time.Hour,
		MemLimit: 1 << 30, NanoCPUs: 1e9, PidsLimit: 256,
		OrphanGrace: 10 * time.Minute, Now: f.Now, SpawnTimeout: 10 * time.Second,
	}
	if opt != nil {
		opt(&opts)
	}
	f.mgr = course.NewManager(f.db, authFor(f.db), fe, f.routes, opts)
	t.Cleanup(f.mgr.Wait)
	return f, fe
}

// ensureFor starts u's server in f.course and returns the final event.
func (f *mgrFixture) ensureFor(t *testing.T, u store.User, role string, a *store.Activity) course.Event {
	t.Helper()
	st, err := f.mgr.Ensure(context.Background(), course.StartRequest{User: u, Course: f.course, Activity: a, Role: role})
	require.NoError(t, err)
	if st.Ready {
		return course.Event{Ready: true}
	}
	require.Empty(t, st.Waiting)
	past, ch, stop, err := f.mgr.Watch(context.Background(), st.Server.ID)
	require.NoError(t, err)
	defer stop()
	last := past[len(past)-1]
	for e := range ch {
		last = e
	}
	return last
}

// Many students starting at once with an image the engine lacks cause one
// pull, and each of them sees its progress.
func TestPullSharedByStarts(t *testing.T) {
	f, fe := newEnvMgr(t, nil)
	ctx := context.Background()
	released := false
	t.Cleanup(func() {
		if !released {
			close(fe.release)
		}
	})
	var users []store.User
	for _, n := range []string{"s1", "s2", "s3"} {
		u := store.User{Name: n}
		require.NoError(t, f.db.Create(&u).Error)
		users = append(users, u)
	}
	var ids []uint
	for _, u := range users {
		st, err := f.mgr.Ensure(ctx, course.StartRequest{User: u, Course: f.course, Role: store.RoleLearner})
		require.NoError(t, err)
		require.True(t, st.Pending)
		ids = append(ids, st.Server.ID)
	}
	// Every start reports the download before the pull ends.
	for _, id := range ids {
		require.Eventually(t, func() bool {
			past, _, stop, err := f.mgr.Watch(ctx, id)
			require.NoError(t, err)
			stop()
			for _, e := range past {
				if e.Message == "Downloading the course's image: 50% (1 of 2 layers)" {
					return true
				}
			}
			return false
		}, 5*time.Second, 10*time.Millisecond)
	}
	ps, ok := f.mgr.PullStatus("img")
	require.True(t, ok)
	require.Equal(t, 50, ps.Percent)
	close(fe.release)
	released = true
	for _, id := range ids {
		past, ch, stop, err := f.mgr.Watch(ctx, id)
		require.NoError(t, err)
		last := past[len(past)-1]
		for e := range ch {
			last = e
		}
		stop()
		require.True(t, last.Ready, last.Message)
	}
	require.EqualValues(t, 1, fe.pulls.Load(), "one pull for all three starts")
	_, ok = f.mgr.PullStatus("img")
	require.False(t, ok)
}

// A course's settings shape its servers within the image's bounds, and a
// change of image applies at each server's next start.
func TestCourseSettingsApplyAtNextStart(t *testing.T) {
	f, fe := newEnvMgr(t, nil)
	ctx := context.Background()
	fe.present["img"], fe.present["ref-big"] = true, true
	big := store.Image{Name: "big", Ref: "ref-big", MemDefault: 2 << 30, MemMax: 4 << 30, CPUMax: 2e9}
	require.NoError(t, f.db.Create(&big).Error)
	teacher := store.User{Name: "teacher"}
	require.NoError(t, f.db.Create(&teacher).Error)

	require.True(t, f.ensureFor(t, f.user, store.RoleLearner, nil).Ready)
	spec := f.engine.specs[0]
	require.Equal(t, "img", spec.Image)
	require.EqualValues(t, 1<<30, spec.MemoryBytes, "the site's limit")
	require.EqualValues(t, 256, spec.PidsLimit)
	require.Empty(t, spec.ExtraNetworks)

	// Over the image's maximum, outside access without permission, and an
	// idle timeout too short are refused with reasons.
	id := big.ID
	err := f.mgr.SaveSettings(ctx, teacher, &f.course, course.Settings{ImageID: &id, MemLimit: 8 << 30,
		NanoCPUs: 3e9, Network: store.NetworkOutside, IdleTimeout: time.Minute})
	var ie *course.InputError
	require.ErrorAs(t, err, &ie)
	require.Contains(t, ie.Msg, "Memory may be at most 4G")
	require.Contains(t, ie.Msg, "CPU may be at most 2 cores")
	require.Contains(t, ie.Msg, "not permitted")
	require.Contains(t, ie.Msg, "at least 5 minutes")

	f.advance(time.Second)
	require.NoError(t, f.mgr.SaveSettings(ctx, teacher, &f.course, course.Settings{ImageID: &id, MemLimit: 3 << 30,
		NanoCPUs: 15e8, Network: store.NetworkCourse, IdleTimeout: 2 * time.Hour}))
	require.NotNil(t, f.course.ImageChosenAt)

	// The running server keeps its image until it starts again.
	require.True(t, f.ensureFor(t, f.user, store.RoleLearner, nil).Ready)
	require.Len(t, f.engine.specs, 1, "no restart for a course image change")
	srv := f.server(t)
	require.Equal(t, "img", srv.Image)
	require.NoError(t, f.mgr.Stop(ctx, srv.ID, "test"))
	require.True(t, f.ensureFor(t, f.user, store.RoleLearner, nil).Ready)
	spec = f.engine.specs[1]
	require.Equal(t, "ref-big", spec.Image)
	require.EqualValues(t, 3<<30, spec.MemoryBytes)
	require.EqualValues(t, 15e8, spec.NanoCPUs)
	require.Equal(t, "3221225472", spec.Env["MEM_LIMIT"])
	require.Equal(t, "1.5", spec.Env["CPU_LIMIT"])
	require.Equal(t, []string{"net-course-lab"}, spec.ExtraNetworks)
	require.True(t, fe.networks["net-course-lab"].Peers)
	require.False(t, fe.networks["net-course-lab"].Outside)

	// The course's idle timeout replaces the site's.
	f.advance(90 * time.Minute)
	require.NoError(t, f.mgr.CullIdle(ctx))
	require.Equal(t, store.StateRunning, f.server(t).State, "90 minutes idle is within the course's two hours")
	f.advance(31 * time.Minute)
	require.NoError(t, f.mgr.CullIdle(ctx))
	require.Equal(t, store.StateStopped, f.server(t).State)

	// Restart all applies a later change to running servers at once.
	require.True(t, f.ensureFor(t, f.user, store.RoleLearner, nil).Ready)
	f.advance(time.Second)
	require.NoError(t, f.mgr.SaveSettings(ctx, teacher, &f.course, course.Settings{Network: store.NetworkHubOnly}))
	n, err := f.mgr.RestartAll(ctx, teacher, f.course)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Eventually(t, func() bool { return f.server(t).State == store.StateRunning && len(f.engine.specs) == 4 },
		5*time.Second, 10*time.Millisecond)
	require.Equal(t, "img", f.engine.specs[3].Image)
	require.Empty(t, f.engine.specs[3].ExtraNetworks)

	log, err := f.mgr.AuditLog(ctx, &f.course.ID, 10)
	require.NoError(t, err)
	require.Equal(t, "course.restart_all", log[0].Action)
	require.Equal(t, "teacher", log[0].Actor)
	require.Equal(t, "course.settings", log[1].Action)
}

// Outside access is offered only where the administrator permits it.
func TestOutsideNetworkNeedsPermission(t *testing.T) {
	f, fe := newEnvMgr(t, func(o *course.Options) { o.AllowOutside = true })
	fe.present["img"] = true
	teacher := store.User{Name: "teacher"}
	require.NoError(t, f.db.Create(&teacher).Error)
	require.NoError(t, f.mgr.SaveSettings(context.Background(), teacher, &f.course, course.Settings{Network: store.NetworkOutside}))
	require.True(t, f.ensureFor(t, f.user, store.RoleLearner, nil).Ready)
	require.Equal(t, []string{"net-outside"}, f.engine.specs[0].ExtraNetworks)
	require.True(t, fe.networks["net-outside"].Outside)
	require.False(t, fe.networks["net-outside"].Peers, "outside access never opens other students' containers")
}

// Without a site default, students wait for their teacher's choice and the
// teacher is sent to choose; an ended course lets only teachers start.
func TestWaitingForImageAndEndedCourse(t *testing.T) {
	f, fe := newEnvMgr(t, func(o *course.Options) { o.DefaultImage = "" })
	ctx := context.Background()
	fe.present["ref-a"] = true
	st, err := f.mgr.Ensure(ctx, course.StartRequest{User: f.user, Course: f.course, Role: store.RoleLearner})
	require.NoError(t, err)
	require.Contains(t, st.Waiting, "not yet chosen")
	require.False(t, st.Pending)
	need, err := f.mgr.NeedsImageChoice(ctx, f.course, nil)
	require.NoError(t, err)
	require.False(t, need, "an empty catalog offers nothing to choose")

	img := store.Image{Name: "a", Ref: "ref-a"}
	require.NoError(t, f.db.Create(&img).Error)
	need, err = f.mgr.NeedsImageChoice(ctx, f.course, nil)
	require.NoError(t, err)
	require.True(t, need)
	need, err = f.mgr.NeedsImageChoice(ctx, f.course, &store.Activity{Image: "a"})
	require.NoError(t, err)
	require.False(t, need, "an activity that names its image needs no choice")
	teacher := store.User{Name: "teacher"}
	require.NoError(t, f.db.Create(&teacher).Error)
	err = f.mgr.SaveSettings(ctx, teacher, &f.course, course.Settings{})
	require.ErrorContains(t, err, "no default image")
	require.NoError(t, f.mgr.SaveSettings(ctx, teacher, &f.course, course.Settings{ImageID: &img.ID}))
	require.True(t, f.ensureFor(t, f.user, store.RoleLearner, nil).Ready)

	require.NoError(t, f.mgr.EndCourse(ctx, teacher, &f.course))
	require.Equal(t, store.StateStopped, f.server(t).State, "ending a course stops its servers")
	st, err = f.mgr.Ensure(ctx, course.StartRequest{User: f.user, Course: f.course, Role: store.RoleLearner})
	require.NoError(t, err)
	require.Contains(t, st.Waiting, "has ended")
	require.True(t, f.ensureFor(t, teacher, store.RoleInstructor, nil).Ready, "teachers still get in")
	require.NoError(t, f.mgr.ReopenCourse(ctx, teacher, &f.course))
	require.True(t, f.ensureFor(t, f.user, store.RoleLearner, nil).Ready)
}

// The servers view shows memory use and out-of-memory kills, and a help
// grant guards the server for its duration and a grace period after.
func TestServersViewAndHelp(t *testing.T) {
	f, fe := newEnvMgr(t, nil)
	ctx := context.Background()
	fe.present["img"] = true
	fe.memory = 123 << 20
	teacher := store.User{Name: "teacher"}
	require.NoError(t, f.db.Create(&teacher).Error)
	require.True(t, f.ensureFor(t, f.user, store.RoleLearner, nil).Ready)
	srv := f.server(t)
	require.Error(t, f.mgr.RecordOOM(ctx, "9999990"), "unknown servers are an error")
	require.NoError(t, f.mgr.RecordOOM(ctx, itoa(srv.ID)))
	require.NoError(t, f.mgr.RecordOOM(ctx, itoa(srv.ID)))
	list, err := f.mgr.CourseServers(ctx, f.course)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "alice", list[0].UserName)
	require.EqualValues(t, 123<<20, list[0].Memory)
	require.Equal(t, 2, list[0].OOMKills)
	require.NotNil(t, list[0].LastOOMAt)

	require.False(t, f.mgr.HelpGuarded(ctx, "alice", "lab"))
	prefix, err := f.mgr.OpenHelp(ctx, teacher, f.course, srv.ID)
	require.NoError(t, err)
	require.Equal(t, "/user/alice/lab/", prefix)
	require.True(t, f.mgr.HelpGuarded(ctx, "alice", "lab"))
	f.advance(course.HelpDuration + 5*time.Minute)
	require.True(t, f.mgr.HelpGuarded(ctx, "alice", "lab"), "cached tokens may still work just after the end")
	f.advance(6 * time.Minute)
	require.False(t, f.mgr.HelpGuarded(ctx, "alice", "lab"))
	log, err := f.mgr.AuditLog(ctx, nil, 5)
	require.NoError(t, err)
	require.Equal(t, "help.open", log[0].Action)
	require.Equal(t, "alice", log[0].Subject)

	require.NoError(t, f.mgr.Stop(ctx, srv.ID, "test"))
	_, err = f.mgr.OpenHelp(ctx, teacher, f.course, srv.ID)
	require.ErrorContains(t, err, "not running")
}

// A course on the site default gets the limits of the default's catalog
// entry, both shown and accepted; idle timeouts are bounded.
func TestSiteDefaultInCatalog(t *testing.T) {
	ctx := context.Background()
	f, _ := newEnvMgr(t, nil)
	teacher := store.User{Name: "teacher"}
	require.NoError(t, f.db.Create(&teacher).Error)
	_, err := f.mgr.PutImage(ctx, course.ImageInput{Name: "nb", Ref: "img", MemDefault: 1 << 30, MemMax: 3 << 30})
	require.NoError(t, err)
	env, err := f.mgr.Environment(ctx, f.course)
	require.NoError(t, err)
	require.EqualValues(t, 3<<30, env.Bounds.MemMax)
	require.NoError(t, f.mgr.SaveSettings(ctx, teacher, &f.course, course.Settings{MemLimit: 3 << 30}),
		"what the page offers is accepted")
	err = f.mgr.SaveSettings(ctx, teacher, &f.course, course.Settings{MemLimit: 4 << 30})
	require.ErrorContains(t, err, "Memory may be at most 3G")
	err = f.mgr.SaveSettings(ctx, teacher, &f.course, course.Settings{IdleTimeout: 8 * 24 * time.Hour})
	require.ErrorContains(t, err, "at most 7 days")
}

// Restart all is for the students: instructors' servers, the acting
// teacher's among them, keep running.
func TestRestartAllOnlyLearners(t *testing.T) {
	f, fe := newEnvMgr(t, nil)
	ctx := context.Background()
	fe.present["img"] = true
	teacher := store.User{Name: "teacher"}
	require.NoError(t, f.db.Create(&teacher).Error)
	require.True(t, f.ensureFor(t, f.user, store.RoleLearner, nil).Ready)
	require.True(t, f.ensureFor(t, teacher, store.RoleInstructor, nil).Ready)
	require.Len(t, f.engine.specs, 2)

	n, err := f.mgr.RestartAll(ctx, teacher, f.course)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Eventually(t, func() bool { return f.server(t).State == store.StateRunning && len(f.engine.specs) == 3 },
		5*time.Second, 10*time.Millisecond)
	require.Equal(t, "alice", f.engine.specs[2].Env["JUPYTERHUB_USER"])
	var ts store.Server
	require.NoError(t, f.db.Where("user_id = ?", teacher.ID).First(&ts).Error)
	require.Equal(t, store.StateRunning, ts.State)

	log, err := f.mgr.AuditLog(ctx, &f.course.ID, 1)
	require.NoError(t, err)
	require.Equal(t, "course.restart_all", log[0].Action)
	require.Equal(t, "1 student servers", log[0].Detail)
}
