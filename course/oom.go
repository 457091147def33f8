package course

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"

	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// watchOOM records, until ctx ends, every process the kernel kills in this
// hub's containers for going over their memory limit. It returns a function
// that waits for the watch to end.
func (m *Manager) watchOOM(ctx context.Context) (wait func()) {
	e, err := m.engine()
	if err != nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			err := e.WatchOOM(ctx, map[string]string{LabelInstance: m.opts.Instance}, func(ev spawner.OOMEvent) {
				if err := m.RecordOOM(ctx, ev.Labels[LabelServerID]); err != nil {
					m.log.Error("failed to record out-of-memory kill", "container_id", ev.ContainerID, "error", err)
				}
			})
			if ctx.Err() != nil {
				return
			}
			m.log.Warn("engine event stream ended; watching again shortly", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
		}
	}()
	return func() { <-done }
}

// RecordOOM counts an out-of-memory kill in the server whose id label is
// serverID, for its instructor's view.
func (m *Manager) RecordOOM(ctx context.Context, serverID string) error {
	id, err := strconv.ParseUint(serverID, 10, 64)
	if err != nil {
		return fmt.Errorf("container has no server id label: %q", serverID)
	}
	res := m.db.WithContext(ctx).Model(&store.Server{}).Where("id = ?", id).
		Updates(map[string]any{"oom_kills": gorm.Expr("oom_kills + 1"), "last_oom_at": m.opts.Now().UTC()})
	if res.Error != nil {
		return fmt.Errorf("record out-of-memory kill: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return errors.New("record out-of-memory kill: no such server")
	}
	m.log.Warn("server process killed for lack of memory", "server_id", id)
	return nil
}

// courseIdleTimeouts returns the idle settings of courses that have their
// own.
func (m *Manager) courseIdleTimeouts(ctx context.Context) (map[uint]int64, error) {
	var rows []store.Course
	if err := m.db.WithContext(ctx).Select("id", "idle_timeout").Where("idle_timeout <> 0").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list course idle timeouts: %w", err)
	}
	out := make(map[uint]int64, len(rows))
	for _, c := range rows {
		out[c.ID] = c.IdleTimeout
	}
	return out, nil
}
