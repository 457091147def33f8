package proxy_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/proxy"
)

// seen is what an echo upstream reports about the request it received.
type seen struct {
	Upstream   string
	RequestURI string
	Host       string
	Method     string
	Header     http.Header
}

// newEcho starts an upstream that answers every request with a JSON
// description of it, tagged with name.
func newEcho(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Upstream", name)
		_ = json.NewEncoder(w).Encode(seen{
			Upstream:   name,
			RequestURI: r.RequestURI,
			Host:       r.Host,
			Method:     r.Method,
			Header:     r.Header,
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// mustURL parses a URL or fails the test.
func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// front serves p on loopback and closes both when the test ends.
func front(t *testing.T, p *proxy.Proxy) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(p)
	t.Cleanup(func() {
		p.Close()
		srv.Close()
	})
	return srv
}

// rawRequest sends req, a complete HTTP/1.1 request head without the final
// blank line, to addr exactly as written, and returns the response with its
// body read. Writing the request by hand keeps the request-target and
// headers byte for byte, which the Go client would normalise.
func rawRequest(t *testing.T, addr, req string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(conn, req+"Connection: close\r\n\r\n")
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(body)
}

// get sends a GET for target with the given extra header lines. Host is
// addr unless the lines set it.
func get(t *testing.T, addr, target string, headers ...string) (*http.Response, string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("GET " + target + " HTTP/1.1\r\n")
	host := true
	for _, h := range headers {
		if len(h) >= 5 && strings.EqualFold(h[:5], "host:") {
			host = false
		}
		b.WriteString(h + "\r\n")
	}
	if host {
		b.WriteString("Host: " + addr + "\r\n")
	}
	return rawRequest(t, addr, b.String())
}

// decodeSeen parses an echo upstream's answer.
func decodeSeen(t *testing.T, body string) seen {
	t.Helper()
	var s seen
	require.NoError(t, json.Unmarshal([]byte(body), &s), "body: %q", body)
	return s
}

// fakeClock is a settable clock safe for concurrent reads.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(start time.Time) *fakeClock {
	c := &fakeClock{}
	c.set(start)
	return c
}

func (c *fakeClock) now() time.Time  { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }

// fallbackHandler answers "fallback" and reports the server the proxy
// recognised in the path, if any.
func fallbackHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, server, ok := proxy.RequestedServer(r); ok {
			w.Header().Set("X-Requested-User", user)
			w.Header().Set("X-Requested-Server", server)
		}
		w.Header().Set("X-Upstream", "fallback")
		w.WriteHeader(http.StatusTeapot)
	})
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
