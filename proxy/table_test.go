package proxy_test

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/proxy"
)

// TestTable checks the table's bookkeeping on its own.
func TestTable(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		run  func(t *testing.T, table *proxy.Table, clock *fakeClock)
	}{
		{name: "lookup of missing route", run: func(t *testing.T, table *proxy.Table, _ *fakeClock) {
			_, ok := table.Lookup("alice", "c")
			require.False(t, ok)
			require.Empty(t, table.Routes())
		}},
		{name: "set then lookup", run: func(t *testing.T, table *proxy.Table, _ *fakeClock) {
			table.Set("alice", "c", mustURL(t, "http://10.0.0.5:8888"), "id-1")
			r, ok := table.Lookup("alice", "c")
			require.True(t, ok)
			require.Equal(t, "alice", r.User)
			require.Equal(t, "c", r.Server)
			require.Equal(t, "id-1", r.Key)
			require.Equal(t, "http://10.0.0.5:8888", r.Target.String())
			require.True(t, base.Equal(r.LastActivity))
		}},
		{name: "names are exact", run: func(t *testing.T, table *proxy.Table, _ *fakeClock) {
			table.Set("a/b", "c", mustURL(t, "http://10.0.0.5:8888"), "k")
			for _, n := range [][2]string{{"a%2Fb", "c"}, {"A/B", "c"}, {"a/b", "C"}, {"a", "b/c"}} {
				_, ok := table.Lookup(n[0], n[1])
				require.False(t, ok, "%q", n)
			}
		}},
		{name: "caller's URL is copied in", run: func(t *testing.T, table *proxy.Table, _ *fakeClock) {
			u := mustURL(t, "http://10.0.0.5:8888")
			table.Set("alice", "c", u, "k")
			u.Host = "evil:1"
			r, _ := table.Lookup("alice", "c")
			require.Equal(t, "10.0.0.5:8888", r.Target.Host)
		}},
		{name: "returned URL is a copy", run: func(t *testing.T, table *proxy.Table, _ *fakeClock) {
			table.Set("alice", "c", mustURL(t, "http://10.0.0.5:8888"), "k")
			r, _ := table.Lookup("alice", "c")
			r.Target.Host = "evil:1"
			table.Routes()[0].Target.Host = "evil:2"
			r, _ = table.Lookup("alice", "c")
			require.Equal(t, "10.0.0.5:8888", r.Target.Host)
		}},
		{name: "replace keeps activity and updates the rest", run: func(t *testing.T, table *proxy.Table, clock *fakeClock) {
			table.Set("alice", "c", mustURL(t, "http://10.0.0.5:8888"), "k1")
			clock.set(base.Add(-time.Hour)) // a clock that stepped back
			table.Set("alice", "c", mustURL(t, "http://10.0.0.6:8888"), "k2")
			r, _ := table.Lookup("alice", "c")
			require.Equal(t, "k2", r.Key)
			require.Equal(t, "10.0.0.6:8888", r.Target.Host)
			require.True(t, base.Equal(r.LastActivity), "activity may not go backwards")
			clock.set(base.Add(time.Hour))
			table.Set("alice", "c", mustURL(t, "http://10.0.0.6:8888"), "k3")
			r, _ = table.Lookup("alice", "c")
			require.True(t, base.Add(time.Hour).Equal(r.LastActivity))
		}},
		{name: "delete", run: func(t *testing.T, table *proxy.Table, _ *fakeClock) {
			table.Set("alice", "c", mustURL(t, "http://10.0.0.5:8888"), "k")
			table.Set("alice", "d", mustURL(t, "http://10.0.0.6:8888"), "k")
			table.Delete("alice", "c")
			table.Delete("alice", "c")
			table.Delete("nobody", "x")
			_, ok := table.Lookup("alice", "c")
			require.False(t, ok)
			_, ok = table.Lookup("alice", "d")
			require.True(t, ok)
		}},
		{name: "routes sorted", run: func(t *testing.T, table *proxy.Table, _ *fakeClock) {
			for _, n := range [][2]string{{"bob", "z"}, {"alice", "c2"}, {"bob", "a"}, {"alice", "c"}, {"Zed", "c"}} {
				table.Set(n[0], n[1], mustURL(t, "http://10.0.0.5:8888"), n[0]+"/"+n[1])
			}
			var got []string
			for _, r := range table.Routes() {
				got = append(got, r.Key)
			}
			require.Equal(t, []string{"Zed/c", "alice/c", "alice/c2", "bob/a", "bob/z"}, got)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			table := proxy.NewTable()
			clock := newFakeClock(base)
			proxy.SetClock(table, clock.now)
			tc.run(t, table, clock)
		})
	}
}

// TestConcurrentRoutes changes routes while requests flow through the proxy
// and other goroutines read the table; run it with -race. Each route's key
// names its upstream, so a torn read shows up as a mismatch.
func TestConcurrentRoutes(t *testing.T) {
	t.Parallel()
	ups := make([]string, 2)
	for i := range ups {
		ups[i] = newEcho(t, strconv.Itoa(i)).URL
	}
	table := proxy.NewTable()
	srv := front(t, proxy.New(proxy.Options{Table: table, Fallback: fallbackHandler()}))
	client := srv.Client()

	const users = 8
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Writers flip each user's route between the upstreams and nothing.
	for w := range 2 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				user := fmt.Sprintf("u%d", (i+w)%users)
				if i%3 == 0 {
					table.Delete(user, "c")
					continue
				}
				up := (i + w) % len(ups)
				table.Set(user, "c", mustURL(t, ups[up]), strconv.Itoa(up))
			}
		})
	}
	// Readers check every route they see is consistent.
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, r := range table.Routes() {
				if r.Target.String() != ups[mustAtoi(r.Key)] {
					t.Errorf("route %s/%s: key %s but target %s", r.User, r.Server, r.Key, r.Target)
				}
			}
			if r, ok := table.Lookup("u1", "c"); ok && r.Target.String() != ups[mustAtoi(r.Key)] {
				t.Errorf("lookup: key %s but target %s", r.Key, r.Target)
			}
		}
	})
	// Requests go to an upstream or the fallback, never fail.
	var reqs sync.WaitGroup
	for g := range 4 {
		reqs.Go(func() {
			for i := range 100 {
				res, err := client.Get(fmt.Sprintf("%s/user/u%d/c/x", srv.URL, (i+g)%users))
				if err != nil {
					t.Errorf("request: %v", err)
					return
				}
				res.Body.Close()
				// require may not stop the test from this goroutine.
				up := res.Header.Get("X-Upstream")
				okFallback := up == "fallback" && res.StatusCode == http.StatusTeapot
				okServer := (up == "0" || up == "1") && res.StatusCode == http.StatusOK
				if !okFallback && !okServer {
					t.Errorf("unexpected answer %d from %q", res.StatusCode, up)
				}
			}
		})
	}
	reqs.Wait()
	close(stop)
	wg.Wait()
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}
