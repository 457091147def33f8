package proxy_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/proxy"
)

// TestStreamingFlushes checks that each part of a streamed response reaches
// the client while the container is still holding back the rest.
func TestStreamingFlushes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		contentType   string
		contentLength bool
		first, second string
	}{
		{name: "server-sent events", contentType: "text/event-stream", first: "data: {\"progress\": 50}\n\n", second: "data: {\"ready\": true}\n\n"},
		{name: "chunked", contentType: "application/octet-stream", first: "part one\n", second: "part two\n"},
		{name: "known length written slowly", contentType: "text/plain", contentLength: true, first: "first half\n", second: "second half\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				if tc.contentLength {
					w.Header().Set("Content-Length", strconv.Itoa(len(tc.first)+len(tc.second)))
				}
				_, _ = io.WriteString(w, tc.first)
				http.NewResponseController(w).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
					return
				}
				_, _ = io.WriteString(w, tc.second)
			}))
			t.Cleanup(up.Close)
			table := proxy.NewTable()
			table.Set("alice", "c", mustURL(t, up.URL), "k")
			srv := front(t, proxy.New(proxy.Options{Table: table}))

			// The request runs in its own goroutine because a proxy that
			// buffers would not even deliver the response head.
			type first struct {
				res  *http.Response
				part string
				err  error
			}
			got := make(chan first, 1)
			go func() {
				res, err := http.Get(srv.URL + "/user/alice/c/api/events")
				if err != nil {
					got <- first{err: err}
					return
				}
				buf := make([]byte, len(tc.first))
				_, err = io.ReadFull(res.Body, buf)
				got <- first{res: res, part: string(buf), err: err}
			}()
			var res *http.Response
			select {
			case f := <-got:
				if f.res != nil {
					defer f.res.Body.Close()
				}
				require.NoError(t, f.err)
				require.Equal(t, tc.first, f.part)
				res = f.res
			case <-time.After(5 * time.Second):
				close(release)
				t.Fatal("the first part was held back until the container finished")
			}
			require.Equal(t, tc.contentType, res.Header.Get("Content-Type"))
			close(release)
			rest, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			require.Equal(t, tc.second, string(rest))
		})
	}
}

// patternByte is the byte at offset off of the test body: a function of the
// offset alone, so loss or reordering in transit changes the hash whatever
// sizes the readers use.
func patternByte(off int64) byte {
	z := uint64(off>>3) + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return byte(z >> (8 * (off & 7)))
}

// patternReader produces size bytes of the test body, calling gate (if set)
// once the first mebibyte has been handed out.
type patternReader struct {
	size, off int64
	gate      func()
}

func newPatternReader(size int64, gate func()) *patternReader {
	return &patternReader{size: size, gate: gate}
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.size {
		return 0, io.EOF
	}
	if p.off >= 1<<20 && p.gate != nil {
		p.gate()
		p.gate = nil
	}
	n := min(int64(len(b)), p.size-p.off)
	if p.gate != nil {
		// Stop at the mebibyte so the gate runs exactly there.
		n = min(n, 1<<20-p.off)
	}
	for i := range n {
		b[i] = patternByte(p.off + i)
	}
	p.off += n
	return int(n), nil
}

// wantHash is the SHA-256 of size bytes of pattern data read in blocks of
// at most 64 KiB.
func wantHash(t *testing.T, size int64) string {
	t.Helper()
	h := sha256.New()
	_, err := io.CopyBuffer(h, newPatternReader(size, nil), make([]byte, 64<<10))
	require.NoError(t, err)
	return fmt.Sprintf("%x", h.Sum(nil))
}

// TestLargeBodies streams 10 MiB each way. The container waits after the
// first mebibyte until the other end has it, which a buffering proxy would
// deadlock on, and the process may not allocate anything near the body
// size while doing it. Not parallel, so the allocation count is this test's.
func TestLargeBodies(t *testing.T) {
	const size = 10 << 20
	want := wantHash(t, size)
	tests := []struct {
		name          string
		upload        bool
		contentLength bool
	}{
		{name: "download with length", contentLength: true},
		{name: "download chunked"},
		{name: "upload with length", upload: true, contentLength: true},
		{name: "upload chunked", upload: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			firstMiB := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.upload {
					h := sha256.New()
					// Read the first mebibyte, tell the client, then the rest:
					// the client only sends the rest after hearing back.
					_, err := io.CopyBuffer(h, io.LimitReader(r.Body, 1<<20), make([]byte, 64<<10))
					if err != nil {
						http.Error(w, err.Error(), http.StatusBadRequest)
						return
					}
					close(firstMiB)
					if _, err := io.CopyBuffer(h, r.Body, make([]byte, 64<<10)); err != nil {
						http.Error(w, err.Error(), http.StatusBadRequest)
						return
					}
					fmt.Fprintf(w, "%x", h.Sum(nil))
					return
				}
				if tc.contentLength {
					w.Header().Set("Content-Length", strconv.Itoa(size))
				}
				gate := func() {
					http.NewResponseController(w).Flush()
					select {
					case <-firstMiB:
					case <-time.After(5 * time.Second):
						t.Error("the client never got the first mebibyte while the container waited")
					}
				}
				_, _ = io.CopyBuffer(w, newPatternReader(size, gate), make([]byte, 64<<10))
			}))
			t.Cleanup(up.Close)
			table := proxy.NewTable()
			table.Set("alice", "c", mustURL(t, up.URL), "k")
			srv := front(t, proxy.New(proxy.Options{Table: table}))

			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)

			var got string
			if tc.upload {
				gate := func() {
					select {
					case <-firstMiB:
					case <-time.After(5 * time.Second):
						t.Error("the container never saw the first mebibyte")
					}
				}
				body := io.Reader(newPatternReader(size, gate))
				req, err := http.NewRequest(http.MethodPut, srv.URL+"/user/alice/c/api/contents/big.bin", body)
				require.NoError(t, err)
				if tc.contentLength {
					req.ContentLength = size
				}
				res, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer res.Body.Close()
				b, err := io.ReadAll(res.Body)
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, res.StatusCode, string(b))
				got = string(b)
			} else {
				res, err := http.Get(srv.URL + "/user/alice/c/files/big.bin")
				require.NoError(t, err)
				defer res.Body.Close()
				h := sha256.New()
				buf := make([]byte, 64<<10)
				_, err = io.CopyBuffer(h, io.LimitReader(res.Body, 1<<20), buf)
				require.NoError(t, err)
				close(firstMiB)
				_, err = io.CopyBuffer(h, res.Body, buf)
				require.NoError(t, err)
				got = fmt.Sprintf("%x", h.Sum(nil))
			}

			runtime.ReadMemStats(&after)
			require.Equal(t, want, got, "body changed in transit")
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %d KiB while moving %d KiB", allocated>>10, size>>10)
			require.Less(t, allocated, uint64(size/4), "the body was buffered somewhere")
		})
	}
}

// TestActivityFromBodies checks that a request stamps its route and that a
// long response keeps stamping while it streams.
func TestActivityFromBodies(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "one\n")
		http.NewResponseController(w).Flush()
		<-release
		_, _ = io.WriteString(w, "two\n")
	}))
	t.Cleanup(up.Close)
	table := proxy.NewTable()
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := newFakeClock(base)
	proxy.SetClock(table, clock.now)
	table.Set("alice", "c", mustURL(t, up.URL), "k")
	srv := front(t, proxy.New(proxy.Options{Table: table}))
	last := func() time.Time {
		r, ok := table.Lookup("alice", "c")
		require.True(t, ok)
		return r.LastActivity
	}

	clock.set(base.Add(time.Hour))
	res, err := http.Get(srv.URL + "/user/alice/c/files/log.txt")
	require.NoError(t, err)
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "one\n", line)
	require.True(t, base.Add(time.Hour).Equal(last()), "the request counts")

	clock.set(base.Add(2 * time.Hour))
	close(release)
	line, err = br.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "two\n", line)
	require.True(t, base.Add(2*time.Hour).Equal(last()), "data later in the body counts")

	// Requests for other servers or the hub do not stamp this route.
	clock.set(base.Add(3 * time.Hour))
	_, _ = get(t, srv.Listener.Addr().String(), "/user/alice/other/")
	_, _ = get(t, srv.Listener.Addr().String(), "/hub/home")
	require.True(t, base.Add(2*time.Hour).Equal(last()))
}

// TestUnavailable checks what the client sees when the container does not
// answer, and that the log never carries cookies or query strings.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	// hangup accepts connections and closes them at once.
	hangup := httptest.NewUnstartedServer(nil)
	hangup.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.Close()
		}
	}
	hangup.Start()
	t.Cleanup(hangup.Close)

	timeoutTransport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: network, Err: os.ErrDeadlineExceeded}
		},
	}
	tests := []struct {
		name        string
		target      string
		transport   http.RoundTripper
		unavailable bool
	}{
		{name: "refused, custom page", target: "http://" + closedAddr(t), unavailable: true},
		{name: "refused, plain 503", target: "http://" + closedAddr(t)},
		{name: "dial timeout", target: "http://" + closedAddr(t), transport: timeoutTransport, unavailable: true},
		{name: "hang-up before answering", target: hangup.URL, unavailable: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			table := proxy.NewTable()
			table.Set("alice", "c", mustURL(t, tc.target), "server-7")
			var logs syncBuffer
			opts := proxy.Options{
				Table:       table,
				StripCookie: isHubCookie,
				Transport:   tc.transport,
				Logger:      slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			}
			if tc.unavailable {
				opts.Unavailable = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					user, server, ok := proxy.RequestedServer(r)
					require.True(t, ok)
					// The hub needs its own session to render the page.
					c, err := r.Cookie("labhub-session")
					require.NoError(t, err)
					w.Header().Set("X-Page", user+"|"+server+"|"+c.Value+"|"+r.Host+"|"+r.URL.RequestURI())
					w.WriteHeader(http.StatusServiceUnavailable)
				})
			}
			srv := front(t, proxy.New(opts))
			res, body := get(t, srv.Listener.Addr().String(), "/user/alice/c/lab?token=hushhush",
				"Host: labhub.example", "Cookie: labhub-session=sekrit; other=1")
			require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
			if tc.unavailable {
				require.Equal(t, "alice|c|sekrit|labhub.example|/user/alice/c/lab?token=hushhush", res.Header.Get("X-Page"))
			} else {
				require.Equal(t, "Service Unavailable\n", body)
			}
			out := logs.String()
			require.Contains(t, out, "server unavailable")
			require.Contains(t, out, "server_key=server-7")
			require.NotContains(t, out, "sekrit")
			require.NotContains(t, out, "hushhush")
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
