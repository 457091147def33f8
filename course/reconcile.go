package course

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// Run does the manager's background work until ctx ends: it reconciles with
// Docker at once and then every interval, stopping idle servers and saving
// proxy activity on the way.
func (m *Manager) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	defer m.watchOOM(ctx)()
	for {
		if err := m.Reconcile(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("failed to reconcile servers", "error", err)
		}
		if err := m.FlushActivity(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("failed to save activity", "error", err)
		}
		if err := m.CullIdle(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("failed to stop idle servers", "error", err)
		}
		select {
		case <-ctx.Done():
			// Save what the proxy saw since the last round.
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = m.FlushActivity(fctx)
			cancel()
			return
		case <-t.C:
		}
	}
}

type serverOwner struct {
	store.Server
	UserName string
}

// activeServers returns the servers recorded as starting, running or
// stopping, with their owners' names.
func (m *Manager) activeServers(ctx context.Context) ([]serverOwner, error) {
	var rows []serverOwner
	err := m.db.WithContext(ctx).Table("servers").
		Select("servers.*, users.name AS user_name").
		Joins("JOIN users ON users.id = servers.user_id").
		Where("servers.state IN ?", []string{store.StateStarting, store.StateRunning, store.StateStopping}).
		Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list active servers: %w", err)
	}
	return rows, nil
}

// Reconcile makes the records and the engine agree: running containers of
// recorded servers are adopted (their routes published), servers whose
// container died are marked stopped (or failed, with the reason), and
// labelled containers no record accounts for are removed once older than
// the grace period.
func (m *Manager) Reconcile(ctx context.Context) error {
	containers, err := m.docker.List(ctx, map[string]string{LabelInstance: m.opts.Instance}, m.opts.Network)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	byServer := map[uint]spawner.Server{}
	for _, c := range containers {
		if id, err := strconv.ParseUint(c.Labels[LabelServerID], 10, 64); err == nil {
			byServer[uint(id)] = c
		}
	}
	rows, err := m.activeServers(ctx)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, r := range rows {
		if m.Pending(r.ID) {
			if c, ok := byServer[r.ID]; ok {
				known[c.ID] = true
			}
			continue
		}
		c, ok := byServer[r.ID]
		if ok && c.Running && c.URL != "" && (r.ContainerID == "" || r.ContainerID == c.ID) {
			known[c.ID] = true
			m.adopt(ctx, r, c)
			continue
		}
		m.markDead(ctx, r, c, ok)
	}
	now := m.opts.Now()
	for _, c := range containers {
		if known[c.ID] || now.Sub(c.Created) < m.opts.OrphanGrace {
			continue
		}
		// Skip containers of a start that began after the list was taken.
		if id, err := strconv.ParseUint(c.Labels[LabelServerID], 10, 64); err == nil && m.Pending(uint(id)) {
			continue
		}
		if err := m.docker.Stop(ctx, c.ID, m.opts.StopTimeout); err != nil {
			m.log.Error("failed to remove untracked container", "container_id", c.ID, "container_name", c.Name, "error", err)
			continue
		}
		m.log.Info("removed untracked container", "container_id", c.ID, "container_name", c.Name,
			"age", now.Sub(c.Created).Round(time.Second).String())
	}
	return nil
}

// adopt publishes the route of a running container and records it running.
func (m *Manager) adopt(ctx context.Context, r serverOwner, c spawner.Server) {
	target, err := url.Parse(c.URL)
	if err != nil {
		m.log.Error("failed to adopt container", "container_id", c.ID, "error", err)
		return
	}
	if _, ok := m.routes.LastActivity(r.UserName, r.Name); !ok || r.State != store.StateRunning || r.URL != c.URL {
		m.routes.Set(r.UserName, r.Name, target, strconv.FormatUint(uint64(r.ID), 10))
		err := m.db.WithContext(ctx).Model(&store.Server{}).Where("id = ?", r.ID).
			Updates(map[string]any{"state": store.StateRunning, "url": c.URL, "container_id": c.ID, "container_name": c.Name}).Error
		if err != nil {
			m.log.Error("failed to record adopted server", "server_id", r.ID, "error", err)
			return
		}
		m.log.Info("adopted running container", "server_id", r.ID, "user", r.UserName, "server", r.Name, "container_id", c.ID)
	}
}

// markDead records a server whose container is gone or stopped.
func (m *Manager) markDead(ctx context.Context, r serverOwner, c spawner.Server, found bool) {
	state, msg := store.StateStopped, ""
	switch {
	case found && c.OOMKilled:
		state, msg = store.StateFailed, "The server was stopped because it used more memory than its limit."
	case found && !c.Running && c.ExitCode != 0:
		state, msg = store.StateFailed, fmt.Sprintf("The server exited with code %d.", c.ExitCode)
	}
	srv := r.Server
	if !found {
		srv.ContainerID, srv.ContainerName = "", ""
	} else {
		srv.ContainerID = c.ID
	}
	if err := m.stop(ctx, &srv, r.UserName, state, msg, "container not running"); err != nil && !errors.Is(err, context.Canceled) {
		m.log.Error("failed to record dead server", "server_id", r.ID, "error", err)
	}
}

// FlushActivity copies the proxy's last-activity times into the records.
func (m *Manager) FlushActivity(ctx context.Context) error {
	rows, err := m.activeServers(ctx)
	if err != nil {
		return err
	}
	for _, r := range rows {
		t, ok := m.routes.LastActivity(r.UserName, r.Name)
		if !ok || t.IsZero() || (r.LastActivity != nil && !t.After(*r.LastActivity)) {
			continue
		}
		if err := m.touch(ctx, r.ID, r.UserID, t); err != nil {
			return err
		}
	}
	return nil
}

// touch moves the activity of a server and its owner forward to t.
func (m *Manager) touch(ctx context.Context, serverID, userID uint, t time.Time) error {
	t = t.UTC()
	db := m.db.WithContext(ctx)
	if err := db.Model(&store.Server{}).Where("id = ? AND (last_activity IS NULL OR last_activity < ?)", serverID, t).
		Update("last_activity", t).Error; err != nil {
		return fmt.Errorf("save server activity: %w", err)
	}
	if err := db.Model(&store.User{}).Where("id = ? AND (last_activity IS NULL OR last_activity < ?)", userID, t).
		Update("last_activity", t).Error; err != nil {
		return fmt.Errorf("save user activity: %w", err)
	}
	return nil
}

// RecordActivity stores activity a server reported through the hub API.
func (m *Manager) RecordActivity(ctx context.Context, u store.User, server string, t time.Time) error {
	var srv store.Server
	if err := m.db.WithContext(ctx).Where("user_id = ? AND name = ?", u.ID, server).First(&srv).Error; err != nil {
		return store.ErrNotFound
	}
	return m.touch(ctx, srv.ID, u.ID, t)
}

// CullIdle stops running servers without activity for longer than the idle
// timeout.
func (m *Manager) CullIdle(ctx context.Context) error {
	rows, err := m.activeServers(ctx)
	if err != nil {
		return err
	}
	courseIdle, err := m.courseIdleTimeouts(ctx)
	if err != nil {
		return err
	}
	now := m.opts.Now()
	for _, r := range rows {
		if r.State != store.StateRunning || m.Pending(r.ID) {
			continue
		}
		last := time.Time{}
		for _, t := range []*time.Time{r.LastActivity, r.StartedAt} {
			if t != nil && t.After(last) {
				last = *t
			}
		}
		if t, ok := m.routes.LastActivity(r.UserName, r.Name); ok && t.After(last) {
			last = t
		}
		timeout := m.idleFor(courseIdle[r.CourseID])
		if timeout <= 0 || last.IsZero() || now.Sub(last) < timeout {
			continue
		}
		if err := m.Stop(ctx, r.ID, "idle"); err != nil {
			m.log.Error("failed to stop idle server", "server_id", r.ID, "error", err)
		}
	}
	return nil
}
