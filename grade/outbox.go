package grade

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/labhub/labhub/store"
)

// Run delivers queued grades until ctx ends, then waits for the deliveries
// under way. Call it once per database: two workers would send the same
// grade twice.
//
// TODO: deliveries are claimed in memory only; running several hubs on one
// database needs a claim (a lease) in the database first.
func (s *Service) Run(ctx context.Context) {
	sem := make(chan struct{}, s.opts.Concurrency)
	freed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		free := s.opts.Concurrency - len(sem)
		var due []uint
		if free > 0 {
			var err error
			// Database work is not cut off by shutdown halfway; the loop
			// ends at the select below.
			due, err = s.due(context.WithoutCancel(ctx), free)
			if err != nil && ctx.Err() == nil {
				s.log.Error("failed to read grade outbox", "error", err)
			}
		}
		for _, id := range due {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.inflight, id)
					s.mu.Unlock()
					<-sem
					select {
					case freed <- struct{}{}:
					default:
					}
				}()
				s.deliverOne(ctx, id)
			}()
		}
		wait := s.opts.Poll
		if len(due) > 0 && len(due) == free {
			// More may be due: look again as soon as a slot frees up.
			wait = time.Hour
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-s.kick:
		case <-freed:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// due claims up to n deliveries whose time has come and that are not under
// way, oldest first, and marks them in flight.
func (s *Service) due(ctx context.Context, n int) ([]uint, error) {
	s.mu.Lock()
	busy := make([]uint, 0, len(s.inflight))
	for id := range s.inflight {
		busy = append(busy, id)
	}
	s.mu.Unlock()
	q := s.db.WithContext(ctx).Model(&store.GradeDelivery{}).
		Where("state IN ? AND next_attempt_at <= ?", []string{store.DeliveryPending, store.DeliveryWaiting},
			s.opts.Now().UTC())
	if len(busy) > 0 {
		q = q.Where("id NOT IN ?", busy)
	}
	var ids []uint
	if err := q.Order("next_attempt_at, id").Limit(n).Pluck("id", &ids).Error; err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := ids[:0]
	for _, id := range ids {
		if !s.inflight[id] {
			s.inflight[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// DeliverDue sends every delivery due now, waiting for them, and returns
// how many it attempted. The worker does this continuously; tests and the
// command line use it to deliver once.
func (s *Service) DeliverDue(ctx context.Context) (int, error) {
	total := 0
	for {
		ids, err := s.due(ctx, s.opts.Concurrency)
		if err != nil {
			return total, fmt.Errorf("read grade outbox: %w", err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.inflight, id)
					s.mu.Unlock()
				}()
				s.deliverOne(ctx, id)
			}()
		}
		wg.Wait()
		total += len(ids)
	}
}

// deliverOne makes one attempt at a delivery and records how it went.
func (s *Service) deliverOne(ctx context.Context, id uint) {
	db := s.db.WithContext(context.WithoutCancel(ctx))
	var d store.GradeDelivery
	if err := db.First(&d, id).Error; err != nil {
		if !errors.Is(err, gorm.ErrRecordNotFound) && ctx.Err() == nil {
			s.log.Error("failed to load grade delivery", "delivery_id", id, "error", err)
		}
		return
	}
	if d.State != store.DeliveryPending && d.State != store.DeliveryWaiting {
		return
	}
	var g store.Grade
	if err := db.First(&g, d.GradeID).Error; err != nil {
		if ctx.Err() == nil {
			s.log.Error("failed to load grade", "grade_id", d.GradeID, "error", err)
		}
		return
	}
	// The grade and its entry change together; the grade's version is the
	// one to send.
	d.Version = g.Version
	log := s.log.With("grade_id", g.ID, "activity_id", g.ActivityID, "user_id", g.UserID, "version", g.Version)
	target, err := s.send(ctx, &d, g)
	if ctx.Err() != nil {
		// Shutting down: the attempt's outcome is unknown and the entry
		// stays due; a repeat is harmless (see the package comment).
		return
	}
	var f *failure
	switch {
	case err == nil:
		s.recordDelivered(&d, target, log)
	case errors.As(err, &f):
		s.recordFailure(&d, target, f, log)
	default:
		s.recordFailure(&d, target, &failure{code: CodeUnavailable, msg: "Labhub could not send the grade.", err: err}, log)
	}
}

// Backoff returns how long to wait before attempt number attempt (1 for
// the first retry): min doubled per attempt up to max, then spread
// randomly over its upper half so that grades refused together do not
// come back together.
func Backoff(attempt int, lo, hi time.Duration, jitter float64) time.Duration {
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + time.Duration(jitter*float64(d/2))
}

func (s *Service) jitter() float64 {
	if s.opts.Jitter != nil {
		return s.opts.Jitter()
	}
	return rand.Float64()
}

// recordDelivered marks the version delivered. If the grade changed while
// it was sent, the newer version stays due.
func (s *Service) recordDelivered(d *store.GradeDelivery, target string, log *slog.Logger) {
	now := s.opts.Now().UTC()
	db := s.db.WithContext(context.Background())
	res := db.Model(&store.GradeDelivery{}).Where("id = ? AND version = ?", d.ID, d.Version).
		Updates(map[string]any{"state": store.DeliveryDelivered, "delivered_version": d.Version,
			"delivered_at": now, "attempts": 0, "code": "", "last_error": "", "sending_version": 0,
			"target": target, "updated_at": now})
	err := res.Error
	if err == nil && res.RowsAffected == 0 {
		// A newer version is queued: record what the platform has, and
		// leave the newer one due.
		err = db.Model(&store.GradeDelivery{}).Where("id = ? AND delivered_version < ?", d.ID, d.Version).
			Updates(map[string]any{"delivered_version": d.Version, "delivered_at": now, "target": target,
				"updated_at": now}).Error
	}
	if err != nil {
		// The platform has the grade; the next attempt finds that out
		// (409, or the LTI 1.1 read) and records it then.
		log.Error("failed to record delivered grade", "error", err)
		return
	}
	log.Debug("delivered grade", "target", target)
}

// recordFailure records a failed attempt: failed for good, waiting, or due
// again after a backoff.
func (s *Service) recordFailure(d *store.GradeDelivery, target string, f *failure, log *slog.Logger) {
	now := s.opts.Now().UTC()
	attempts := d.Attempts + 1
	state, next := store.DeliveryPending, now
	switch {
	case f.permanent:
		state = store.DeliveryFailed
	case f.waiting:
		state, next = store.DeliveryWaiting, now.Add(s.opts.WaitingRetry)
	default:
		wait := Backoff(attempts, s.opts.RetryMin, s.opts.RetryMax, s.jitter())
		if f.retryAfter > wait {
			wait = min(f.retryAfter, s.opts.RetryMax)
		}
		next = now.Add(wait)
	}
	err := s.db.Model(&store.GradeDelivery{}).Where("id = ? AND version = ?", d.ID, d.Version).
		Updates(map[string]any{"state": state, "attempts": attempts, "next_attempt_at": next, "code": f.code,
			"last_error": f.Error(), "target": target, "updated_at": now}).Error
	if err != nil {
		log.Error("failed to record grade delivery failure", "error", err)
		return
	}
	switch state {
	case store.DeliveryFailed:
		log.Warn("grade refused by the LMS", "code", f.code, "error", f.Error())
	case store.DeliveryWaiting:
		log.Info("grade waiting for a launch", "code", f.code)
	default:
		log.Info("grade delivery failed, will retry", "code", f.code, "attempt", attempts,
			"next_attempt_at", next, "error", f.Error())
	}
}
