package course

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/labhub/labhub/store"
)

// HelpDuration is how long an instructor may look at a student's server
// after opening it for help.
const HelpDuration = time.Hour

// helpGrace is how long after a help grant ends the student's server stays
// guarded: jupyterhub-singleuser caches a token's owner for up to five
// minutes, so the helper's token may work that long after it is revoked.
const helpGrace = 10 * time.Minute

// ServerInfo is a course's server as its instructor's page shows it.
type ServerInfo struct {
	store.Server
	UserName    string
	DisplayName string
	// Role is the owner's role in the course.
	Role    string
	Pending bool
	// Memory is what the container uses, in bytes; zero when unknown or
	// not running.
	Memory uint64
}

// CourseServers lists the servers of course c with their owners, by owner
// name, with the memory the running ones use.
func (m *Manager) CourseServers(ctx context.Context, c store.Course) ([]ServerInfo, error) {
	var rows []ServerInfo
	err := m.db.WithContext(ctx).Table("servers").
		Select("servers.*, users.name AS user_name, users.display_name AS display_name, enrollments.role AS role").
		Joins("JOIN users ON users.id = servers.user_id").
		Joins("LEFT JOIN enrollments ON enrollments.user_id = servers.user_id AND enrollments.course_id = servers.course_id").
		Where("servers.course_id = ?", c.ID).Order("users.name").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list course servers: %w", err)
	}
	e, engineErr := m.engine()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range rows {
		r := &rows[i]
		r.Pending = m.Pending(r.ID)
		if engineErr != nil || r.State != store.StateRunning || r.ContainerID == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if n, err := e.MemoryUsage(ctx, r.ContainerID); err == nil {
				r.Memory = n
			}
		}()
	}
	wg.Wait()
	return rows, nil
}

// courseServer loads server id when it belongs to course c.
func (m *Manager) courseServer(ctx context.Context, c store.Course, id uint) (store.Server, store.User, error) {
	var srv store.Server
	var u store.User
	err := m.db.WithContext(ctx).Where("id = ? AND course_id = ?", id, c.ID).First(&srv).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return srv, u, store.ErrNotFound
	}
	if err != nil {
		return srv, u, fmt.Errorf("load server: %w", err)
	}
	if err := m.db.WithContext(ctx).First(&u, srv.UserID).Error; err != nil {
		return srv, u, fmt.Errorf("load server owner: %w", err)
	}
	return srv, u, nil
}

// ServerAction is what an instructor does to a server of their course.
type ServerAction string

// Server actions.
const (
	ActionStart   ServerAction = "start"
	ActionStop    ServerAction = "stop"
	ActionRestart ServerAction = "restart"
)

// Act starts, stops or restarts server id of course c on behalf of actor.
// A start or restart runs in the background with the course's current
// settings.
func (m *Manager) Act(ctx context.Context, actor store.User, c store.Course, id uint, action ServerAction) error {
	srv, owner, err := m.courseServer(ctx, c, id)
	if err != nil {
		return err
	}
	switch action {
	case ActionStop, ActionRestart:
		if err := m.Stop(ctx, srv.ID, "stopped by instructor "+actor.Name); err != nil {
			return err
		}
		if action == ActionStop {
			break
		}
		fallthrough
	case ActionStart:
		st, err := m.Start(ctx, srv.ID)
		if err != nil {
			return err
		}
		if st.Waiting != "" {
			return &InputError{Msg: st.Waiting}
		}
	default:
		return &InputError{Msg: "Unknown action."}
	}
	m.Audit(ctx, actor, "server."+string(action), &c, owner.Name, "")
	return nil
}

// RestartAll restarts every running student server of course c (one
// started in the learner role) with the course's current settings and
// returns how many it restarted. Instructors' servers keep running.
func (m *Manager) RestartAll(ctx context.Context, actor store.User, c store.Course) (int, error) {
	var ids []uint
	if err := m.db.WithContext(ctx).Model(&store.Server{}).Where("course_id = ? AND state IN ? AND role = ?", c.ID,
		[]string{store.StateRunning, store.StateStarting}, store.RoleLearner).Pluck("id", &ids).Error; err != nil {
		return 0, fmt.Errorf("list running servers: %w", err)
	}
	n := 0
	for _, id := range ids {
		if err := m.Stop(ctx, id, "course restart by "+actor.Name); err != nil {
			return n, err
		}
		if _, err := m.Start(ctx, id); err != nil {
			return n, err
		}
		n++
	}
	m.Audit(ctx, actor, "course.restart_all", &c, "", fmt.Sprintf("%d student servers", n))
	return n, nil
}

// OpenHelp lets actor look at server id of course c read-only for
// HelpDuration, records it in the audit log, and returns the server's URL
// path.
func (m *Manager) OpenHelp(ctx context.Context, actor store.User, c store.Course, id uint) (string, error) {
	srv, owner, err := m.courseServer(ctx, c, id)
	if err != nil {
		return "", err
	}
	if owner.ID == actor.ID {
		return m.Prefix(owner.Name, srv.Name), nil
	}
	if srv.State != store.StateRunning {
		return "", &InputError{Msg: owner.Name + "'s server is not running; start it first."}
	}
	now := m.opts.Now().UTC()
	g := store.HelpGrant{ServerID: srv.ID, HelperID: actor.ID, CreatedAt: now, ExpiresAt: now.Add(HelpDuration)}
	if err := m.db.WithContext(ctx).Create(&g).Error; err != nil {
		return "", fmt.Errorf("record help grant: %w", err)
	}
	m.guard(owner.Name, srv.Name, g.ExpiresAt)
	m.Audit(ctx, actor, "help.open", &c, owner.Name, "read-only until "+g.ExpiresAt.Format(time.RFC3339))
	return m.Prefix(owner.Name, srv.Name), nil
}

// guard marks a server as watched by a helper until until (plus grace).
func (m *Manager) guard(user, server string, until time.Time) {
	m.extra.helpMu.Lock()
	defer m.extra.helpMu.Unlock()
	k := user + "/" + server
	if until.After(m.extra.guarded[k]) {
		m.extra.guarded[k] = until
	}
}

// HelpGuarded reports whether someone other than its owner may be looking
// at the server (user, server) read-only now: a help grant is active or
// ended less than a grace period ago. Requests to such a server that are not
// its owner's are held to reading.
func (m *Manager) HelpGuarded(ctx context.Context, user, server string) bool {
	// Loading must not fail because the first request asking went away.
	m.extra.helpOnce.Do(func() { m.loadGuards(context.WithoutCancel(ctx)) })
	m.extra.helpMu.Lock()
	until, ok := m.extra.guarded[user+"/"+server]
	all := m.extra.guardAll
	m.extra.helpMu.Unlock()
	return all || (ok && m.opts.Now().Before(until.Add(helpGrace)))
}

// loadGuards reads the help grants that may still be in use, after a
// restart.
func (m *Manager) loadGuards(ctx context.Context) {
	var rows []struct {
		ExpiresAt      time.Time
		UserName, Name string
	}
	err := m.db.WithContext(ctx).Table("help_grants").
		Select("help_grants.expires_at, users.name AS user_name, servers.name AS name").
		Joins("JOIN servers ON servers.id = help_grants.server_id").
		Joins("JOIN users ON users.id = servers.user_id").
		Where("help_grants.expires_at > ?", m.opts.Now().UTC().Add(-helpGrace)).Scan(&rows).Error
	if err != nil {
		// Fail closed: without the records, every server is guarded.
		m.log.Error("failed to load help grants", "error", err)
		m.extra.helpMu.Lock()
		m.extra.guardAll = true
		m.extra.helpMu.Unlock()
		return
	}
	for _, r := range rows {
		m.guard(r.UserName, r.Name, r.ExpiresAt)
	}
}
