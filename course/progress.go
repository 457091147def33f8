package course

import "sync"

// Event is one step of a server's start, in the form JupyterHub's progress
// API sends it as a server-sent event.
type Event struct {
	Progress int    `json:"progress"`
	Message  string `json:"message"`
	Ready    bool   `json:"ready,omitempty"`
	Failed   bool   `json:"failed,omitempty"`
	URL      string `json:"url,omitempty"`
}

// Final reports whether no event follows e.
func (e Event) Final() bool { return e.Ready || e.Failed }

// feed keeps the events of one start and hands them to watchers.
type feed struct {
	mu     sync.Mutex
	events []Event
	subs   map[chan Event]struct{}
	closed bool
}

func newFeed() *feed { return &feed{subs: map[chan Event]struct{}{}} }

// publish records e and sends it to every watcher. Watchers that do not keep
// up lose intermediate events but always get the final one, which closes
// their channel.
func (f *feed) publish(e Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.events = append(f.events, e)
	for ch := range f.subs {
		if e.Final() {
			// The channel has room for one event at all times (see watch),
			// so the final event is never dropped.
			select {
			case ch <- e:
			default:
				select {
				case <-ch:
				default:
				}
				ch <- e
			}
			close(ch)
			continue
		}
		select {
		case ch <- e:
		default:
		}
	}
	if e.Final() {
		f.closed = true
		f.subs = nil
	}
}

// watch returns the events so far and a channel of the ones to come. The
// channel is closed after the final event or by the returned stop function.
func (f *feed) watch() ([]Event, <-chan Event, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	past := append([]Event(nil), f.events...)
	ch := make(chan Event, 16)
	if f.closed {
		close(ch)
		return past, ch, func() {}
	}
	f.subs[ch] = struct{}{}
	return past, ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.subs[ch]; ok {
			delete(f.subs, ch)
			close(ch)
		}
	}
}
