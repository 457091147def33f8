package course_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// engine is a scriptable stand-in for the Docker engine: containers are
// records, and a started container "runs" the httptest server given.
type engine struct {
	mu         sync.Mutex
	containers map[string]spawner.Server // by id
	volumes    map[string]bool
	upstream   string
	startErr   error
	image      bool
	stopped    []string
	specs      []spawner.Spec
}

func newEngine(upstream string) *engine {
	return &engine{containers: map[string]spawner.Server{}, volumes: map[string]bool{}, upstream: upstream, image: true}
}

func (e *engine) EnsureVolume(_ context.Context, name string, _ map[string]string, _, _ string) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	created := !e.volumes[name]
	e.volumes[name] = true
	return created, nil
}

func (e *engine) ImagePresent(context.Context, string) (bool, error) { return e.image, nil }

func (e *engine) Start(_ context.Context, s spawner.Spec) (spawner.Server, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.startErr != nil {
		return spawner.Server{}, e.startErr
	}
	e.specs = append(e.specs, s)
	c := spawner.Server{ID: "id-" + s.Name, Name: s.Name, Image: s.Image, Labels: s.Labels, State: "running",
		Running: true, URL: e.upstream, Created: time.Now()}
	e.containers[c.ID] = c
	return c, nil
}

func (e *engine) Stop(_ context.Context, id string, _ time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, c := range e.containers {
		if k == id || c.Name == id {
			delete(e.containers, k)
		}
	}
	e.stopped = append(e.stopped, id)
	return nil
}

func (e *engine) Inspect(_ context.Context, id, _ string) (spawner.Server, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, c := range e.containers {
		if k == id || c.Name == id {
			return c, nil
		}
	}
	return spawner.Server{}, spawner.ErrNotFound
}

func (e *engine) List(_ context.Context, match map[string]string, _ string) ([]spawner.Server, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []spawner.Server
next:
	for _, c := range e.containers {
		for k, v := range match {
			if c.Labels[k] != v {
				continue next
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func (e *engine) set(id string, f func(*spawner.Server)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.containers[id]
	f(&c)
	e.containers[id] = c
}

// table is a route table with settable activity.
type table struct {
	mu     sync.Mutex
	routes map[string]*url.URL
	act    map[string]time.Time
}

func newTable() *table { return &table{routes: map[string]*url.URL{}, act: map[string]time.Time{}} }

func (t *table) Set(user, server string, target *url.URL, _ string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.routes[user+"/"+server] = target
}

func (t *table) Delete(user, server string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.routes, user+"/"+server)
}

func (t *table) LastActivity(user, server string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.routes[user+"/"+server]
	return t.act[user+"/"+server], ok
}

type mgrFixture struct {
	db     *store.DB
	engine *engine
	routes *table
	mgr    *course.Manager
	user   store.User
	course store.Course
	now    time.Time
	clock  sync.Mutex
}

func (f *mgrFixture) Now() time.Time {
	f.clock.Lock()
	defer f.clock.Unlock()
	return f.now
}

func (f *mgrFixture) advance(d time.Duration) {
	f.clock.Lock()
	defer f.clock.Unlock()
	f.now = f.now.Add(d)
}

func newMgr(t *testing.T) *mgrFixture {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(up.Close)
	f := &mgrFixture{db: testutil.SQLite(t), engine: newEngine(up.URL), routes: newTable(), now: time.Now()}
	f.mgr = course.NewManager(f.db, auth.New(f.db, []byte("k"), nil), f.engine, f.routes, course.Options{
		PublicURL: "https://hub.example/", HubAPIURL: "http://10.0.0.1:8081/hub/api", Network: "net", Instance: "inst",
		DefaultImage: "img", NotebookDir: "/home/jovyan", VolumeOwner: "1000:100", IdleTimeout: time.Hour,
		OrphanGrace: 10 * time.Minute, Now: f.Now, Logger: slog.New(slog.DiscardHandler), SpawnTimeout: 10 * time.Second,
		MemLimit: 512 << 20, NanoCPUs: 1.5e9,
	})
	t.Cleanup(f.mgr.Wait)
	f.user = store.User{Name: "alice"}
	require.NoError(t, f.db.Create(&f.user).Error)
	f.course = store.Course{Provider: "p", ContextID: "1", Slug: "lab", Title: "Lab"}
	require.NoError(t, f.db.Create(&f.course).Error)
	return f
}

// start starts alice's server and waits for the final event.
func (f *mgrFixture) start(t *testing.T, role string) (course.Status, course.Event) {
	st, err := f.mgr.Ensure(context.Background(), course.StartRequest{User: f.user, Course: f.course, Role: role})
	require.NoError(t, err)
	past, ch, stop, err := f.mgr.Watch(context.Background(), st.Server.ID)
	require.NoError(t, err)
	defer stop()
	last := past[len(past)-1]
	for e := range ch {
		last = e
	}
	return st, last
}

func (f *mgrFixture) server(t *testing.T) store.Server {
	var s store.Server
	require.NoError(t, f.db.Where("user_id = ?", f.user.ID).First(&s).Error)
	return s
}

func TestStartBuildsTheContainer(t *testing.T) {
	f := newMgr(t)
	st, final := f.start(t, store.RoleLearner)
	require.True(t, st.Pending)
	require.True(t, final.Ready, final.Message)
	require.Equal(t, "/user/alice/lab/", final.URL)
	_, routed := f.routes.LastActivity("alice", "lab")
	require.True(t, routed)

	require.Len(t, f.engine.specs, 1)
	spec := f.engine.specs[0]
	require.Equal(t, spawner.ContainerName("alice", "lab"), spec.Name)
	require.Equal(t, "img", spec.Image)
	require.Equal(t, "net", spec.Network)
	require.Equal(t, "inst", spec.Labels[course.LabelInstance])
	require.Equal(t, strconv.FormatUint(uint64(st.Server.ID), 10), spec.Labels[course.LabelServerID])
	require.Equal(t, []spawner.Mount{
		{Volume: spawner.HomeVolumeName("alice", "lab"), Target: "/home/jovyan"},
		{Volume: spawner.SharedVolumeName("lab"), Target: "/home/jovyan/shared", ReadOnly: true},
	}, spec.Mounts)
	env := spec.Env
	for k, want := range map[string]string{
		"JUPYTERHUB_API_URL":             "http://10.0.0.1:8081/hub/api",
		"JUPYTERHUB_SERVICE_PREFIX":      "/user/alice/lab/",
		"JUPYTERHUB_SERVICE_URL":         "http://0.0.0.0:8888/user/alice/lab/",
		"JUPYTERHUB_OAUTH_CALLBACK_URL":  "/user/alice/lab/oauth_callback",
		"JUPYTERHUB_ACTIVITY_URL":        "http://10.0.0.1:8081/hub/api/users/alice/activity",
		"JUPYTERHUB_CLIENT_ID":           "jupyterhub-user-alice--lab",
		"JUPYTERHUB_USER":                "alice",
		"JUPYTERHUB_SERVER_NAME":         "lab",
		"JUPYTERHUB_BASE_URL":            "/",
		"JUPYTERHUB_OAUTH_ACCESS_SCOPES": `["access:servers!server=alice/lab","access:servers!user=alice"]`,
		"JUPYTERHUB_PUBLIC_URL":          "https://hub.example/user/alice/lab/",
		"LABHUB_API_URL":                 "http://10.0.0.1:8081/api/",
		// JupyterHub 4.x and 5.x singleuser read these too.
		"JUPYTERHUB_OAUTH_SCOPES":                `["access:servers!server=alice/lab","access:servers!user=alice"]`,
		"JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES": `["access:servers!server=alice/lab"]`,
		"JUPYTERHUB_PUBLIC_HUB_URL":              "https://hub.example/hub/",
		"JUPYTERHUB_COOKIE_HOST_PREFIX_ENABLED":  "0",
		"MEM_LIMIT":                              "536870912",
		"CPU_LIMIT":                              "1.5",
	} {
		require.Equal(t, want, env[k], k)
	}
	host, ok := env["JUPYTERHUB_HOST"]
	require.True(t, ok, "JUPYTERHUB_HOST is set (empty: the hub and servers share one origin)")
	require.Empty(t, host)
	require.Equal(t, env["JUPYTERHUB_API_TOKEN"], env["JPY_API_TOKEN"])
	tok, u, err := auth.New(f.db, nil, nil).Lookup(context.Background(), env["JUPYTERHUB_API_TOKEN"])
	require.NoError(t, err)
	require.Equal(t, "alice", u.Name)
	require.Contains(t, auth.Scopes(tok), "users:activity!user=alice")

	// An instructor's server writes the course volume.
	require.NoError(t, f.mgr.Stop(context.Background(), st.Server.ID, "test"))
	_, final = f.start(t, store.RoleInstructor)
	require.True(t, final.Ready)
	require.False(t, f.engine.specs[1].Mounts[1].ReadOnly)
	// and sees the course's hand-ins, read-only.
	require.Contains(t, f.engine.specs[1].Mounts, spawner.Mount{Volume: spawner.HandinVolumeName("lab"),
		Target: "/home/jovyan/handins", ReadOnly: true})
}

func TestRoleChangeRestarts(t *testing.T) {
	f := newMgr(t)
	_, final := f.start(t, store.RoleLearner)
	require.True(t, final.Ready)
	st, err := f.mgr.Ensure(context.Background(), course.StartRequest{User: f.user, Course: f.course, Role: store.RoleLearner})
	require.NoError(t, err)
	require.True(t, st.Ready, "a running server with the same role is used as it is")
	_, final = f.start(t, store.RoleInstructor)
	require.True(t, final.Ready)
	require.Len(t, f.engine.specs, 2)
	require.False(t, f.engine.specs[1].Mounts[1].ReadOnly)
}

func TestStartFailures(t *testing.T) {
	f := newMgr(t)
	f.engine.image = false
	_, final := f.start(t, store.RoleLearner)
	require.True(t, final.Failed)
	require.Contains(t, final.Message, "not available")
	srv := f.server(t)
	require.Equal(t, store.StateFailed, srv.State)

	f.engine.image = true
	f.engine.startErr = errors.New("engine exploded")
	_, final = f.start(t, store.RoleLearner)
	require.True(t, final.Failed)
	var n int64
	require.NoError(t, f.db.Model(&store.Token{}).Count(&n).Error)
	require.Zero(t, n, "a failed start leaves no credentials behind")
	_, routed := f.routes.LastActivity("alice", "lab")
	require.False(t, routed)
}

func TestReconcile(t *testing.T) {
	ctx := context.Background()
	f := newMgr(t)
	st, final := f.start(t, store.RoleLearner)
	require.True(t, final.Ready)
	id := "id-" + spawner.ContainerName("alice", "lab")

	// After a hub restart the route table is empty: reconciling adopts.
	f.routes.Delete("alice", "lab")
	require.NoError(t, f.mgr.Reconcile(ctx))
	_, routed := f.routes.LastActivity("alice", "lab")
	require.True(t, routed, "a running container is adopted")

	// A container killed for memory is reported.
	f.engine.set(id, func(c *spawner.Server) { c.Running, c.State, c.OOMKilled, c.ExitCode = false, "exited", true, 137 })
	require.NoError(t, f.mgr.Reconcile(ctx))
	srv := f.server(t)
	require.Equal(t, store.StateFailed, srv.State)
	require.Contains(t, srv.Error, "more memory than its limit")
	_, routed = f.routes.LastActivity("alice", "lab")
	require.False(t, routed)
	_, err := f.engine.Inspect(ctx, id, "")
	require.ErrorIs(t, err, spawner.ErrNotFound, "the dead container is removed")

	// Labelled containers nobody knows are removed once old enough.
	f.engine.mu.Lock()
	f.engine.containers["orphan"] = spawner.Server{ID: "orphan", Labels: map[string]string{course.LabelInstance: "inst",
		course.LabelServerID: "999"}, Running: true, Created: f.now.Add(-11 * time.Minute)}
	f.engine.containers["young"] = spawner.Server{ID: "young", Labels: map[string]string{course.LabelInstance: "inst"},
		Running: true, Created: f.now.Add(-time.Minute)}
	f.engine.containers["other-hub"] = spawner.Server{ID: "other-hub", Labels: map[string]string{course.LabelInstance: "x"},
		Running: true, Created: f.now.Add(-time.Hour)}
	f.engine.mu.Unlock()
	require.NoError(t, f.mgr.Reconcile(ctx))
	_, err = f.engine.Inspect(ctx, "orphan", "")
	require.ErrorIs(t, err, spawner.ErrNotFound)
	_, err = f.engine.Inspect(ctx, "young", "")
	require.NoError(t, err, "a container younger than the grace period stays")
	_, err = f.engine.Inspect(ctx, "other-hub", "")
	require.NoError(t, err, "another hub's containers are never touched")
	_ = st
}

func TestActivityAndIdle(t *testing.T) {
	ctx := context.Background()
	f := newMgr(t)
	_, final := f.start(t, store.RoleLearner)
	require.True(t, final.Ready)

	seen := f.now.Add(30 * time.Minute)
	f.routes.act["alice/lab"] = seen
	require.NoError(t, f.mgr.FlushActivity(ctx))
	srv := f.server(t)
	require.True(t, srv.LastActivity.Equal(seen.UTC()))

	f.advance(80 * time.Minute)
	require.NoError(t, f.mgr.CullIdle(ctx))
	require.Equal(t, store.StateRunning, f.server(t).State, "50 minutes idle is within the hour")
	f.advance(11 * time.Minute)
	require.NoError(t, f.mgr.CullIdle(ctx))
	require.Equal(t, store.StateStopped, f.server(t).State)
	_, routed := f.routes.LastActivity("alice", "lab")
	require.False(t, routed)
}

func TestActivityImage(t *testing.T) {
	ctx := context.Background()
	f := newMgr(t)
	require.NoError(t, f.db.Create(&store.Image{Name: "scipy", Ref: "quay.io/jupyter/scipy-notebook:2024-12-02"}).Error)
	act := store.Activity{CourseID: f.course.ID, ResourceLinkID: "rl", Image: "scipy"}
	require.NoError(t, f.db.Create(&act).Error)

	wait := func(st course.Status) course.Event {
		past, ch, stop, err := f.mgr.Watch(ctx, st.Server.ID)
		require.NoError(t, err)
		defer stop()
		last := past[len(past)-1]
		for e := range ch {
			last = e
		}
		return last
	}
	st, err := f.mgr.Ensure(ctx, course.StartRequest{User: f.user, Course: f.course, Activity: &act, Role: store.RoleLearner})
	require.NoError(t, err)
	first := wait(st)
	require.True(t, first.Ready, first.Message)
	require.Equal(t, "quay.io/jupyter/scipy-notebook:2024-12-02", f.engine.specs[0].Image, "the activity's image wins")

	// The course's other activities run the course image: the server
	// restarts with it.
	st, err = f.mgr.Ensure(ctx, course.StartRequest{User: f.user, Course: f.course, Role: store.RoleLearner})
	require.NoError(t, err)
	require.True(t, st.Pending)
	require.True(t, wait(st).Ready)
	require.Equal(t, "img", f.engine.specs[1].Image)

	// An activity whose image left the catalog keeps a running server as
	// it is, and a stopped one fails to start with a message that says why.
	missing := store.Activity{CourseID: f.course.ID, ResourceLinkID: "rl2", Image: "gone"}
	st, err = f.mgr.Ensure(ctx, course.StartRequest{User: f.user, Course: f.course, Activity: &missing, Role: store.RoleLearner})
	require.NoError(t, err)
	require.True(t, st.Ready)
	require.NoError(t, f.mgr.Stop(ctx, st.Server.ID, "test"))
	st, err = f.mgr.Ensure(ctx, course.StartRequest{User: f.user, Course: f.course, Activity: &missing, Role: store.RoleLearner})
	require.NoError(t, err)
	final := wait(st)
	require.True(t, final.Failed)
	require.Contains(t, final.Message, `"gone" chosen for this activity is not in Labhub's catalog`)
}
