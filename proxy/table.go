package proxy

import (
	"cmp"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Route is one user's server as the proxy sees it.
type Route struct {
	// User and Server are the decoded names the route answers to.
	User, Server string
	// Key is the hub's identifier for the server, returned unchanged so
	// activity can be attributed without parsing names.
	Key string
	// Target is the container's base URL, such as http://172.18.0.5:8888.
	Target *url.URL
	// LastActivity is when the route last carried a request or data in
	// either direction. [Table.Set] counts as activity, so a freshly started
	// server is not idle.
	LastActivity time.Time
}

// Table is the live route table. It is safe for concurrent use; lookups take
// no lock, so the hub can change routes while requests flow.
type Table struct {
	// mu serialises writers; readers load routes without it.
	mu     sync.Mutex
	routes atomic.Pointer[map[routeKey]*entry]

	// now is the clock used for activity stamps. Tests replace it.
	now func() time.Time
}

// routeKey identifies a route by its decoded names.
type routeKey struct{ user, server string }

// entry is an immutable route plus its mutable activity stamp.
type entry struct {
	user, server, key string
	target            *url.URL
	act               *activity
}

// activity is a route's last-activity time in Unix nanoseconds. It is shared
// between successive entries for the same names, so connections opened
// before a Set keep stamping the route that replaced theirs.
type activity struct{ last atomic.Int64 }

// touch records activity at now. It only ever moves the stamp forward, and
// skips the store when it would not, so concurrent requests on one route
// mostly read a shared cache line instead of bouncing it between cores.
func (a *activity) touch(now time.Time) {
	n := now.UnixNano()
	if n > a.last.Load() {
		a.last.Store(n)
	}
}

// NewTable returns an empty Table.
func NewTable() *Table {
	t := &Table{now: time.Now}
	t.routes.Store(&map[routeKey]*entry{})
	return t
}

// Set adds or replaces the route for user's server. The names are the
// decoded ones (as typed, not URL-escaped). target must be non-nil; it
// normally has no path, because the proxy forwards the full request path. key
// is the hub's identifier for the server and is reported back in [Route].
//
// Replacing a route keeps its activity, so open websockets continue to count
// for it.
func (t *Table) Set(user, server string, target *url.URL, key string) {
	// Copy the URL so a caller reusing its value cannot change a live route.
	u := *target
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.routes.Load()
	k := routeKey{user, server}
	act := &activity{}
	if prev, ok := old[k]; ok {
		act = prev.act
	}
	act.touch(t.now())
	next := make(map[routeKey]*entry, len(old)+1)
	for rk, e := range old {
		next[rk] = e
	}
	next[k] = &entry{user: user, server: server, key: key, target: &u, act: act}
	t.routes.Store(&next)
}

// Delete removes the route for user's server, if any. Requests already being
// forwarded finish; new ones go to the fallback handler.
func (t *Table) Delete(user, server string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.routes.Load()
	k := routeKey{user, server}
	if _, ok := old[k]; !ok {
		return
	}
	next := make(map[routeKey]*entry, len(old))
	for rk, e := range old {
		if rk != k {
			next[rk] = e
		}
	}
	t.routes.Store(&next)
}

// Lookup returns the route for user's server and reports whether there is
// one. The returned Target is a copy the caller may modify.
func (t *Table) Lookup(user, server string) (Route, bool) {
	e, ok := t.lookup(user, server)
	if !ok {
		return Route{}, false
	}
	return e.snapshot(), true
}

// Routes returns a snapshot of every route, sorted by user and then server,
// for reconciliation with the hub's database and for the admin API.
func (t *Table) Routes() []Route {
	m := *t.routes.Load()
	out := make([]Route, 0, len(m))
	for _, e := range m {
		out = append(out, e.snapshot())
	}
	slices.SortFunc(out, func(a, b Route) int {
		return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.Server, b.Server))
	})
	return out
}

// lookup returns the live entry for the hot path, without copying.
func (t *Table) lookup(user, server string) (*entry, bool) {
	e, ok := (*t.routes.Load())[routeKey{user, server}]
	return e, ok
}

// snapshot copies e into a Route the caller owns.
func (e *entry) snapshot() Route {
	u := *e.target
	return Route{
		User:         e.user,
		Server:       e.server,
		Key:          e.key,
		Target:       &u,
		LastActivity: time.Unix(0, e.act.last.Load()),
	}
}
