package course

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/labhub/labhub/spawner"
)

// pullTimeout bounds one image pull.
const pullTimeout = 30 * time.Minute

// pullJob is one image pull, shared by every start and admin who wants the
// image while it runs.
type pullJob struct {
	ref  string
	feed *feed
	done chan struct{}
	// mu protects last and err.
	mu   sync.Mutex
	last spawner.PullProgress
	err  error
}

// PullStatus is how far a pull has come, for pages.
type PullStatus struct {
	Ref     string
	Percent int
	Layers  int
	Done    int
}

// StartPull starts pulling the image ref unless a pull of it is already
// under way, and returns at once. However many starts and administrators
// ask for the same image, the engine is asked once at a time.
func (m *Manager) StartPull(ref string) error {
	_, err := m.pull(ref)
	return err
}

// PullStatus reports the pull of ref under way, if any.
func (m *Manager) PullStatus(ref string) (PullStatus, bool) {
	m.extra.pullMu.Lock()
	j, ok := m.extra.pulls[ref]
	m.extra.pullMu.Unlock()
	if !ok {
		return PullStatus{}, false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return PullStatus{Ref: ref, Percent: j.last.Percent(), Layers: j.last.Layers, Done: j.last.LayersDone}, true
}

// pull returns the pull of ref under way, starting one when there is none.
func (m *Manager) pull(ref string) (*pullJob, error) {
	e, err := m.engine()
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	m.extra.pullMu.Lock()
	defer m.extra.pullMu.Unlock()
	if j, ok := m.extra.pulls[ref]; ok {
		return j, nil
	}
	j := &pullJob{ref: ref, feed: newFeed(), done: make(chan struct{})}
	m.extra.pulls[ref] = j
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		// The pull belongs to nobody's request: one student giving up must
		// not stop it for the others.
		ctx, cancel := context.WithTimeout(context.Background(), pullTimeout)
		defer cancel()
		err := e.Pull(ctx, ref, func(p spawner.PullProgress) {
			j.mu.Lock()
			j.last = p
			j.mu.Unlock()
			j.feed.publish(Event{Progress: p.Percent(), Message: p.Status})
		})
		j.mu.Lock()
		j.err = err
		j.mu.Unlock()
		m.extra.pullMu.Lock()
		delete(m.extra.pulls, ref)
		m.extra.pullMu.Unlock()
		if err != nil {
			m.log.Error("failed to pull image", "image", ref, "error", err)
			j.feed.publish(Event{Progress: 100, Failed: true, Message: err.Error()})
		} else {
			j.feed.publish(Event{Progress: 100, Ready: true, Message: "pulled"})
		}
		close(j.done)
	}()
	return j, nil
}

// pullForStart pulls the image of a start, sharing the pull with other
// starts, and reports its progress on the start's feed between from and
// to percent.
func (m *Manager) pullForStart(ctx context.Context, f *feed, ref string, from, to int) error {
	j, err := m.pull(ref)
	if err != nil {
		return err
	}
	f.publish(Event{Progress: from, Message: "Downloading the course's image " + ref})
	past, ch, stop := j.feed.watch()
	defer stop()
	report := func() {
		j.mu.Lock()
		p := j.last
		j.mu.Unlock()
		if p.Layers == 0 {
			return
		}
		f.publish(Event{Progress: from + (to-from)*p.Percent()/100,
			Message: fmt.Sprintf("Downloading the course's image: %d%% (%d of %d layers)", p.Percent(), p.LayersDone, p.Layers)})
	}
	if len(past) > 0 {
		// The pull began before this start joined it.
		report()
	}
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				<-j.done
				j.mu.Lock()
				err := j.err
				j.mu.Unlock()
				if err != nil {
					return &userError{fmt.Sprintf("Labhub could not download the image %s of this course; an administrator has been told. (%v)", ref, err)}
				}
				return nil
			}
			if !e.Final() {
				report()
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
