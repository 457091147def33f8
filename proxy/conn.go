package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// errClosed is returned to ReverseProxy when an upgrade arrives after Close.
var errClosed = errors.New("proxy closed")

// errNoCloseWrite ends a switched-protocol copy whose client connection
// cannot half-close; see trackedConn.CloseWrite.
var errNoCloseWrite = errors.New("client connection cannot half-close")

// upgradeWriter wraps the ResponseWriter of an upgrade request so that the
// connection ReverseProxy hijacks is stamped and tracked by the Proxy.
// ReverseProxy finds Hijack through http.ResponseController, and everything
// else (Flush for a refused upgrade) through Unwrap.
type upgradeWriter struct {
	http.ResponseWriter
	p    *Proxy
	act  *activity
	conn *trackedConn // set once hijacked
}

// Unwrap gives http.ResponseController access to the wrapped writer.
func (u *upgradeWriter) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// Hijack takes over the client connection and registers it with the Proxy,
// unless the Proxy is closing.
func (u *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	p := u.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil, errClosed
	}
	conn, brw, err := http.NewResponseController(u.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// The buffered writer goes to the raw connection; ReverseProxy uses it
	// only for the 101 response head, which is not activity.
	u.conn = &trackedConn{Conn: conn, act: u.act, now: p.table.now}
	p.conns[u.conn] = struct{}{}
	p.wg.Add(1)
	return u.conn, brw, nil
}

// release forgets the hijacked connection once ReverseProxy is done with it.
func (u *upgradeWriter) release() {
	if u.conn == nil {
		return
	}
	p := u.p
	p.mu.Lock()
	delete(p.conns, u.conn)
	p.mu.Unlock()
	p.wg.Done()
}

// trackedConn is a hijacked client connection that stamps activity whenever
// data moves, in the spirit of configurable-http-proxy's per-chunk stamps.
// Reads carry client-to-server data, writes server-to-client.
type trackedConn struct {
	net.Conn
	act *activity
	now func() time.Time
}

// Read stamps after data arrives, so activity is recorded before the data is
// passed on to the container.
func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.act.touch(c.now())
	}
	return n, err
}

// Write stamps before sending, so activity is recorded by the time the
// client sees the data.
func (c *trackedConn) Write(b []byte) (int, error) {
	c.act.touch(c.now())
	return c.Conn.Write(b)
}

// CloseWrite half-closes the client connection when the container ends its
// side. ReverseProxy only half-closes connections that offer CloseWrite,
// which this wrapper always does; when the underlying connection cannot, it
// returns an error so ReverseProxy closes both sides instead, as it would
// have without the wrapper.
func (c *trackedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errNoCloseWrite
}

// activityBody stamps a route's activity as a request or response body
// streams through, so a long upload or download keeps the server alive.
type activityBody struct {
	io.ReadCloser
	act *activity
	now func() time.Time
}

// Read passes data through and stamps when some arrived.
func (b *activityBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.act.touch(b.now())
	}
	return n, err
}
