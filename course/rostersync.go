package course

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/labhub/labhub/lti"
)

// MembershipSource reads the members of a course from its platform, given
// the memberships URL of a launch; advantage.Roster.Members is one.
type MembershipSource func(ctx context.Context, p lti.Platform, membershipsURL string) ([]lti.Member, error)

// Defaults of a RosterSyncer.
const (
	DefaultRosterInterval = 10 * time.Minute
	DefaultRosterTimeout  = 5 * time.Minute
)

// RosterSyncer syncs course rosters in the background, at most one sync per
// course at a time and one per MinInterval, so that a class of teachers
// launching together causes one sync.
type RosterSyncer struct {
	// Service records the members. It must be set.
	Service *Service
	// Source reads them. It must be set.
	Source MembershipSource
	// Roles reads the members' roles.
	Roles lti.RoleMapping
	// MinInterval is the least time between two syncs of one course, failed
	// ones included. If zero, DefaultRosterInterval is used.
	MinInterval time.Duration
	// Timeout bounds one sync. If zero, DefaultRosterTimeout is used.
	Timeout time.Duration
	// Logger receives one line per sync. If nil, slog.Default is used.
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now is used.
	Now func() time.Time

	// mu protects last and running.
	mu      sync.Mutex
	last    map[uint]time.Time
	running map[uint]bool
	wg      sync.WaitGroup
}

// Trigger starts a sync of the course with store id courseID from platform
// p, whose launches name it provider, unless one is running or one started
// less than MinInterval ago. It returns at once and reports whether a sync
// started.
func (r *RosterSyncer) Trigger(p lti.Platform, provider string, courseID uint, membershipsURL string) bool {
	if membershipsURL == "" {
		return false
	}
	now := r.now()
	r.mu.Lock()
	if r.last == nil {
		r.last, r.running = map[uint]time.Time{}, map[uint]bool{}
	}
	interval := r.MinInterval
	if interval <= 0 {
		interval = DefaultRosterInterval
	}
	if last, ok := r.last[courseID]; r.running[courseID] || ok && now.Sub(last) < interval {
		r.mu.Unlock()
		return false
	}
	r.last[courseID], r.running[courseID] = now, true
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			delete(r.running, courseID)
			r.mu.Unlock()
		}()
		r.sync(p, provider, courseID, membershipsURL)
	}()
	return true
}

func (r *RosterSyncer) sync(p lti.Platform, provider string, courseID uint, membershipsURL string) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultRosterTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("course_id", courseID, "platform_issuer", p.Issuer)
	start := r.now()
	members, err := r.Source(ctx, p, membershipsURL)
	if err != nil {
		log.Warn("failed to read course roster", "error", err)
		return
	}
	res, err := r.Service.SyncRoster(ctx, provider, courseID, members, r.Roles)
	if err != nil {
		log.Error("failed to record course roster", "error", err)
		return
	}
	log.Info("synced course roster", "members", res.Members, "new_users", res.NewUsers,
		"new_enrollments", res.NewEnrollments, "skipped", res.Skipped,
		"duration_ms", r.now().Sub(start).Milliseconds())
}

// Wait waits until the syncs under way have ended.
func (r *RosterSyncer) Wait() { r.wg.Wait() }

func (r *RosterSyncer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
