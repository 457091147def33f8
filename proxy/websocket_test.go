package proxy_test

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/proxy"
)

// wsUpstream is a websocket server that echoes, records what it received
// and can be told to send on its own.
type wsUpstream struct {
	srv      *httptest.Server
	headers  chan http.Header
	received chan string
	send     chan string
	closed   chan struct{}
}

func newWSUpstream(t *testing.T, echo bool) *wsUpstream {
	t.Helper()
	u := &wsUpstream{
		headers:  make(chan http.Header, 16),
		received: make(chan string, 16),
		send:     make(chan string),
		closed:   make(chan struct{}, 16),
	}
	upgrader := websocket.Upgrader{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.headers <- r.Header.Clone()
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer func() { u.closed <- struct{}{} }()
		defer conn.Close()
		go func() {
			for msg := range u.send {
				if conn.WriteMessage(websocket.TextMessage, []byte(msg)) != nil {
					return
				}
			}
		}()
		for {
			typ, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if echo {
				if err := conn.WriteMessage(typ, msg); err != nil {
					return
				}
				continue
			}
			u.received <- string(msg)
		}
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// dialWS opens a websocket to path on the proxy front.
func dialWS(t *testing.T, srv *httptest.Server, path string, h http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, res, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+path, h)
	if conn != nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, res, err
}

// TestWebsocketEcho checks the upgrade headers the container sees and that
// messages of every size cross the proxy intact.
func TestWebsocketEcho(t *testing.T) {
	t.Parallel()
	up := newWSUpstream(t, true)
	table := proxy.NewTable()
	table.Set("alice", "c", mustURL(t, up.srv.URL), "k")
	srv := front(t, proxy.New(proxy.Options{Table: table, StripCookie: isHubCookie}))

	h := http.Header{}
	h.Set("Cookie", "labhub-session=secret; jupyterhub-user-alice-c=tok")
	// The upstream, like Jupyter, refuses an Origin that does not match the
	// Host it sees, so this also checks that Host is the client's.
	origin := "http://" + srv.Listener.Addr().String()
	h.Set("Origin", origin)
	h.Set("Authorization", "token abc")
	conn, res, err := dialWS(t, srv, "/user/alice/c/api/kernels/k1/channels?session_id=s&token=abc", h)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, res.StatusCode)

	seenHeader := <-up.headers
	require.Equal(t, "Upgrade", seenHeader.Get("Connection"))
	require.Equal(t, "websocket", seenHeader.Get("Upgrade"))
	require.NotEmpty(t, seenHeader.Get("Sec-Websocket-Key"))
	require.Equal(t, "jupyterhub-user-alice-c=tok", seenHeader.Get("Cookie"))
	require.Equal(t, origin, seenHeader.Get("Origin"))
	require.Equal(t, "token abc", seenHeader.Get("Authorization"))

	tests := []struct {
		name string
		typ  int
		msg  []byte
	}{
		{name: "text", typ: websocket.TextMessage, msg: []byte(`{"msg_type":"execute_request"}`)},
		{name: "empty", typ: websocket.TextMessage, msg: []byte{}},
		{name: "binary", typ: websocket.BinaryMessage, msg: []byte{0, 1, 2, 0xff}},
		{name: "one mebibyte", typ: websocket.BinaryMessage, msg: bytes.Repeat([]byte("0123456789abcdef"), 1<<16)},
	}
	// Subtests share one connection, so they run in order.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, conn.WriteMessage(tc.typ, tc.msg))
			typ, got, err := conn.ReadMessage()
			require.NoError(t, err)
			require.Equal(t, tc.typ, typ)
			require.True(t, bytes.Equal(tc.msg, got), "message changed in transit")
		})
	}
}

// TestWebsocketActivity checks that frames in each direction stamp the
// route, using a clock the test controls.
func TestWebsocketActivity(t *testing.T) {
	t.Parallel()
	up := newWSUpstream(t, false)
	table := proxy.NewTable()
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := newFakeClock(base)
	proxy.SetClock(table, clock.now)
	table.Set("alice", "c", mustURL(t, up.srv.URL), "k")
	srv := front(t, proxy.New(proxy.Options{Table: table}))

	lastActivity := func() time.Time {
		r, ok := table.Lookup("alice", "c")
		require.True(t, ok)
		return r.LastActivity
	}
	require.True(t, base.Equal(lastActivity()), "Set counts as activity")

	clock.set(base.Add(time.Minute))
	conn, _, err := dialWS(t, srv, "/user/alice/c/terminals/websocket/1", nil)
	require.NoError(t, err)
	<-up.headers
	require.True(t, base.Add(time.Minute).Equal(lastActivity()), "the upgrade request counts")

	// Client to server.
	clock.set(base.Add(2 * time.Minute))
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte("ls\r")))
	require.Equal(t, "ls\r", <-up.received)
	require.True(t, base.Add(2*time.Minute).Equal(lastActivity()), "a client frame counts")

	// Server to client.
	clock.set(base.Add(3 * time.Minute))
	up.send <- "output"
	_, msg, err := conn.ReadMessage()
	require.NoError(t, err)
	require.Equal(t, "output", string(msg))
	require.True(t, base.Add(3*time.Minute).Equal(lastActivity()), "a server frame counts")

	// Replacing the route (as after a hub restart re-adds it) keeps the
	// open connection counting for it.
	table.Set("alice", "c", mustURL(t, up.srv.URL), "k2")
	clock.set(base.Add(4 * time.Minute))
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte("pwd\r")))
	require.Equal(t, "pwd\r", <-up.received)
	require.True(t, base.Add(4*time.Minute).Equal(lastActivity()), "a frame after Set counts for the new route")

	// A clock that steps back never moves the stamp backwards.
	clock.set(base)
	require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte("x")))
	require.Equal(t, "x", <-up.received)
	require.True(t, base.Add(4*time.Minute).Equal(lastActivity()))
}

// TestCloseEndsWebsockets checks that Close cuts open websockets on both
// sides, waits for them and refuses new upgrades.
func TestCloseEndsWebsockets(t *testing.T) {
	t.Parallel()
	up := newWSUpstream(t, true)
	table := proxy.NewTable()
	table.Set("alice", "c", mustURL(t, up.srv.URL), "k")
	p := proxy.New(proxy.Options{Table: table})
	srv := front(t, p)

	const n = 3
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conn, _, err := dialWS(t, srv, "/user/alice/c/api/events/subscribe", nil)
		require.NoError(t, err)
		require.NoError(t, conn.WriteMessage(websocket.TextMessage, []byte("ping")))
		_, _, err = conn.ReadMessage()
		require.NoError(t, err)
		conns[i] = conn
	}

	done := make(chan struct{})
	go func() {
		p.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	for i, conn := range conns {
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, _, err := conn.ReadMessage()
		require.Error(t, err, "connection %d must be closed", i)
		var netErr net.Error
		if errors.As(err, &netErr) {
			require.False(t, netErr.Timeout(), "connection %d was left open", i)
		}
	}
	for range n {
		select {
		case <-up.closed:
		case <-time.After(5 * time.Second):
			t.Fatal("the container's side stayed open")
		}
	}

	// Upgrades are refused; plain requests still reach the container
	// (which answers 400 because it only speaks websocket).
	_, res, err := dialWS(t, srv, "/user/alice/c/api/events/subscribe", nil)
	require.ErrorIs(t, err, websocket.ErrBadHandshake)
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	plain, _ := get(t, srv.Listener.Addr().String(), "/user/alice/c/api/events/subscribe")
	require.Equal(t, http.StatusBadRequest, plain.StatusCode)

	p.Close() // a second Close is harmless
}
