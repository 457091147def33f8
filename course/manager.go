package course

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// Docker is what the manager needs from the container engine; *spawner.Docker
// implements it.
type Docker interface {
	EnsureVolume(ctx context.Context, name string, labels map[string]string, owner, image string) (bool, error)
	ImagePresent(ctx context.Context, ref string) (bool, error)
	Start(ctx context.Context, spec spawner.Spec) (spawner.Server, error)
	Stop(ctx context.Context, nameOrID string, timeout time.Duration) error
	Inspect(ctx context.Context, nameOrID, network string) (spawner.Server, error)
	List(ctx context.Context, match map[string]string, network string) ([]spawner.Server, error)
}

// Routes is the proxy's route table as the manager sees it.
type Routes interface {
	Set(user, server string, target *url.URL, key string)
	Delete(user, server string)
	LastActivity(user, server string) (time.Time, bool)
}

// Options configures a Manager.
type Options struct {
	// Base is the public path prefix, "/" or "/prefix/".
	Base string
	// PublicURL is the hub's public URL, ending in "/".
	PublicURL string
	// HubAPIURL is the hub API as containers reach it, e.g.
	// http://172.18.0.1:8081/hub/api (no trailing slash).
	HubAPIURL string
	// Network is the Docker network the containers join.
	Network string
	// Instance tells this hub's containers from another hub's on the same
	// engine.
	Instance string
	// DefaultImage is used by courses that have not chosen an image.
	DefaultImage string
	// NotebookDir is where the home volume is mounted.
	NotebookDir string
	// VolumeOwner ("uid:gid") owns new volumes.
	VolumeOwner string
	// Names builds the names of containers and volumes.
	Names spawner.Names
	// SiteSharedVolume, if set, is mounted read-only at NotebookDir/site-shared.
	SiteSharedVolume string
	// Limits per container; zero means none.
	MemLimit  int64
	NanoCPUs  int64
	PidsLimit int64
	// SpawnTimeout bounds one start; zero means 2 minutes.
	SpawnTimeout time.Duration
	// SpawnConcurrency bounds starts running at once; zero means 8.
	SpawnConcurrency int
	// IdleTimeout stops servers without activity; zero never does.
	IdleTimeout time.Duration
	// OrphanGrace is how old an unknown labelled container must be before
	// it is removed; zero means 10 minutes.
	OrphanGrace time.Duration
	// StopTimeout is how long a container gets to exit; zero means 10 s.
	StopTimeout time.Duration
	// DefaultURL is JUPYTERHUB_DEFAULT_URL, "" for the image's default.
	DefaultURL string
	// CompatVersion is the JupyterHub version reported to containers.
	CompatVersion string
	// AllowOutside permits courses to give their servers access outside
	// the host (network policy store.NetworkOutside).
	AllowOutside bool
	// HTTPClient polls servers for readiness; nil means a plain client.
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
}

// Manager owns the notebook servers.
type Manager struct {
	db     *store.DB
	auth   *auth.Service
	docker Docker
	routes Routes
	opts   Options
	log    *slog.Logger
	sem    chan struct{}

	// mu protects spawns.
	mu     sync.Mutex
	spawns map[uint]*spawn
	wg     sync.WaitGroup

	extra *extras
}

// spawn is a start in progress.
type spawn struct {
	feed   *feed
	cancel context.CancelFunc
	done   chan struct{}
}

// NewManager returns a Manager. Call Run to start its background work.
func NewManager(db *store.DB, a *auth.Service, d Docker, r Routes, opts Options) *Manager {
	if opts.SpawnTimeout == 0 {
		opts.SpawnTimeout = 2 * time.Minute
	}
	if opts.SpawnConcurrency == 0 {
		opts.SpawnConcurrency = 8
	}
	if opts.OrphanGrace == 0 {
		opts.OrphanGrace = 10 * time.Minute
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if opts.Base == "" {
		opts.Base = "/"
	}
	return &Manager{db: db, auth: a, docker: d, routes: r, opts: opts, log: opts.Logger,
		sem: make(chan struct{}, opts.SpawnConcurrency), spawns: map[uint]*spawn{}, extra: newExtras()}
}

// Status is a server's state as pages need it.
type Status struct {
	Server  store.Server
	Ready   bool
	Pending bool
	// Prefix is the server's URL path.
	Prefix string
	// Waiting, when not empty, says why the server cannot start yet, in
	// words for its owner.
	Waiting string
}

// HomeVolume returns the name of a user's home volume for a server.
func (m *Manager) HomeVolume(user, server string) (string, error) {
	name, err := m.opts.Names.Home(user, server)
	if err != nil {
		return "", &userError{"Your user name cannot name a home volume under this Labhub's volume settings. Tell an administrator."}
	}
	return name, nil
}

// Prefix returns the URL path of a user's server.
func (m *Manager) Prefix(user, server string) string {
	return ServerPrefix(m.opts.Base, user, server)
}

// StartRequest says whose server to run and how.
type StartRequest struct {
	User   store.User
	Course store.Course
	// Activity is the launched activity, whose image choice wins over the
	// course's; nil when the start does not come from a launch.
	Activity *store.Activity
	// Role is the user's role in the course.
	Role string
}

// Ensure makes sure the user's server for the course runs with the role and
// image the request implies: it returns at once, ready or with a start under
// way that Watch reports on. A running server with another role is
// restarted, and so is one running another image than the activity asks
// for; a change of the course's image waits for the server's next start.
// When the server cannot start yet (the course has no image, or it ended)
// the status says why in Waiting and nothing starts.
func (m *Manager) Ensure(ctx context.Context, r StartRequest) (Status, error) {
	srv, err := m.serverRow(ctx, r.User, r.Course)
	if err != nil {
		return Status{}, err
	}
	p := m.planFor(ctx, r.Course, r.Activity)
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Status{Server: *srv, Prefix: m.Prefix(r.User.Name, srv.Name)}
	if _, ok := m.spawns[srv.ID]; ok {
		st.Pending = true
		return st, nil
	}
	// A start may have finished since the row was read; starts record their
	// outcome before they leave m.spawns, so a read under m.mu is current.
	if err := m.db.WithContext(ctx).First(srv, srv.ID).Error; err != nil {
		return Status{}, fmt.Errorf("reload server record: %w", err)
	}
	st.Server = *srv
	if srv.State == store.StateRunning && srv.Role == r.Role && (p.imageErr != nil || srv.Image == p.image ||
		courseImageChangedSince(r.Course, p, srv.StartedAt)) {
		st.Ready = true
		return st, nil
	}
	if w := waitingReason(r.Course, r.Role, p); w != "" {
		st.Waiting = w
		return st, nil
	}
	restart := srv.State == store.StateRunning
	m.startLocked(*srv, r.User, r.Course, r.Role, p, restart)
	st.Pending = true
	return st, nil
}

// serverRow returns the server record of user in course, creating it.
func (m *Manager) serverRow(ctx context.Context, u store.User, c store.Course) (*store.Server, error) {
	srv := store.Server{UserID: u.ID, CourseID: c.ID, Name: c.Slug, State: store.StateStopped}
	err := m.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&srv).Error
	if err != nil {
		return nil, fmt.Errorf("create server record: %w", err)
	}
	if err := m.db.WithContext(ctx).Where("user_id = ? AND course_id = ?", u.ID, c.ID).First(&srv).Error; err != nil {
		return nil, fmt.Errorf("load server record: %w", err)
	}
	return &srv, nil
}

// Start starts a stopped server of its owner again with its last role.
func (m *Manager) Start(ctx context.Context, serverID uint) (Status, error) {
	var srv store.Server
	if err := m.db.WithContext(ctx).First(&srv, serverID).Error; err != nil {
		return Status{}, fmt.Errorf("load server: %w", err)
	}
	var u store.User
	var c store.Course
	if err := m.db.WithContext(ctx).First(&u, srv.UserID).Error; err != nil {
		return Status{}, fmt.Errorf("load server owner: %w", err)
	}
	if err := m.db.WithContext(ctx).First(&c, srv.CourseID).Error; err != nil {
		return Status{}, fmt.Errorf("load server course: %w", err)
	}
	role := srv.Role
	var e store.Enrollment
	if err := m.db.WithContext(ctx).Where("user_id = ? AND course_id = ?", u.ID, c.ID).First(&e).Error; err == nil {
		role = e.Role
	}
	if role == "" {
		role = store.RoleLearner
	}
	return m.Ensure(ctx, StartRequest{User: u, Course: c, Role: role})
}

// startLocked begins a start in the background. m.mu must be held.
func (m *Manager) startLocked(srv store.Server, u store.User, c store.Course, role string, p plan, restart bool) {
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.SpawnTimeout)
	sp := &spawn{feed: newFeed(), cancel: cancel, done: make(chan struct{})}
	m.spawns[srv.ID] = sp
	sp.feed.publish(Event{Progress: 0, Message: "Server requested"})
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(sp.done)
		defer cancel()
		final := m.run(ctx, sp.feed, srv, u, c, role, p, restart)
		m.mu.Lock()
		delete(m.spawns, srv.ID)
		m.mu.Unlock()
		sp.feed.publish(final)
	}()
}

// Watch returns the progress of a server's start: the events so far and a
// channel of those to come, closed after the final one. When no start is
// under way it reports the server's current state as a final event.
func (m *Manager) Watch(ctx context.Context, serverID uint) ([]Event, <-chan Event, func(), error) {
	m.mu.Lock()
	sp, ok := m.spawns[serverID]
	m.mu.Unlock()
	if ok {
		past, ch, stop := sp.feed.watch()
		return past, ch, stop, nil
	}
	var srv store.Server
	if err := m.db.WithContext(ctx).First(&srv, serverID).Error; err != nil {
		return nil, nil, nil, fmt.Errorf("load server: %w", err)
	}
	var u store.User
	if err := m.db.WithContext(ctx).First(&u, srv.UserID).Error; err != nil {
		return nil, nil, nil, fmt.Errorf("load server owner: %w", err)
	}
	var e Event
	switch srv.State {
	case store.StateRunning:
		e = m.readyEvent(u.Name, srv.Name)
	case store.StateFailed:
		e = Event{Progress: 100, Failed: true, Message: "Spawn failed: " + srv.Error}
	default:
		e = Event{Progress: 100, Failed: true, Message: "The server is not running."}
	}
	ch := make(chan Event)
	close(ch)
	return []Event{e}, ch, func() {}, nil
}

func (m *Manager) readyEvent(user, server string) Event {
	p := m.Prefix(user, server)
	return Event{Progress: 100, Ready: true, Message: "Server ready at " + p, URL: p}
}

// Find returns a server by its owner's name and its name.
func (m *Manager) Find(ctx context.Context, userName, serverName string) (*store.Server, *store.User, error) {
	var u store.User
	err := m.db.WithContext(ctx).Where("name = ?", userName).First(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, store.ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("look up user: %w", err)
	}
	var srv store.Server
	err = m.db.WithContext(ctx).Where("user_id = ? AND name = ?", u.ID, serverName).First(&srv).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, &u, store.ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("look up server: %w", err)
	}
	return &srv, &u, nil
}

// Pending reports whether a start of serverID is under way.
func (m *Manager) Pending(serverID uint) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.spawns[serverID]
	return ok
}

// Stop stops a server: a start under way is cancelled, the route removed,
// the container removed (its volumes stay) and its tokens revoked.
func (m *Manager) Stop(ctx context.Context, serverID uint, reason string) error {
	m.mu.Lock()
	sp, ok := m.spawns[serverID]
	m.mu.Unlock()
	if ok {
		sp.cancel()
		<-sp.done
	}
	var srv store.Server
	if err := m.db.WithContext(ctx).First(&srv, serverID).Error; err != nil {
		return fmt.Errorf("load server: %w", err)
	}
	var u store.User
	if err := m.db.WithContext(ctx).First(&u, srv.UserID).Error; err != nil {
		return fmt.Errorf("load server owner: %w", err)
	}
	return m.stop(ctx, &srv, u.Name, store.StateStopped, "", reason)
}

// stop takes a server down and records state and message.
func (m *Manager) stop(ctx context.Context, srv *store.Server, user, state, message, reason string) error {
	m.routes.Delete(user, srv.Name)
	target := srv.ContainerID
	if target == "" {
		target = srv.ContainerName
	}
	if target != "" {
		if err := m.docker.Stop(ctx, target, m.opts.StopTimeout); err != nil {
			return fmt.Errorf("stop container %s: %w", target, err)
		}
	}
	now := m.opts.Now().UTC()
	err := m.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := m.auth.RevokeServerTokens(ctx, tx, srv.ID); err != nil {
			return err
		}
		return tx.Model(srv).Updates(map[string]any{"state": state, "error": message, "stopped_at": now,
			"container_id": "", "url": ""}).Error
	})
	if err != nil {
		return fmt.Errorf("record stopped server: %w", err)
	}
	m.log.Info("stopped server", "server_id", srv.ID, "user", user, "server", srv.Name, "reason", reason)
	return nil
}

// Wait waits for background starts to finish, for shutdown.
func (m *Manager) Wait() { m.wg.Wait() }
