package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"sync"
)

// Options configures a [Proxy].
type Options struct {
	// Prefix is the URL path in front of "user/", such as "/" or "/base/",
	// percent-encoded as it appears in URLs. Routes are
	// <Prefix>user/<name>/<server>/. If empty, "/" is used.
	Prefix string

	// Table holds the routes. It MUST NOT be nil.
	Table *Table

	// StripCookie reports whether the cookie called name belongs to the hub.
	// Such cookies are removed before a request is forwarded; every other
	// cookie passes unchanged and in order. If nil, no cookie is removed,
	// which lets every container read the hub's session: the hub MUST set it.
	StripCookie func(name string) bool

	// TrustedProxy reports whether a request arriving from remoteAddr (the
	// http.Request field, "host:port") comes from a trusted front such as a
	// TLS terminator. Such requests keep their Forwarded, X-Forwarded-*,
	// X-Real-Ip and X-Scheme headers; from anyone else these are removed and
	// rebuilt from the connection. If nil, no peer is trusted.
	TrustedProxy func(remoteAddr string) bool

	// Fallback handles requests that no route matches, including requests
	// outside <Prefix>user/. The hub uses it to offer to start the server or
	// to show spawn progress; [RequestedServer] tells it which server was
	// asked for. If nil, such requests get 404.
	Fallback http.Handler

	// Unavailable handles requests whose container refused the connection,
	// timed out or failed before answering. It receives the request as the
	// client sent it, hub cookies included, and [RequestedServer] works on
	// it. If nil, the client gets a plain 503.
	Unavailable http.Handler

	// Guard, if set, sees every request for a routed server before it is
	// forwarded, with the hub's cookies still on it. When it returns false
	// it has written the response itself and the request goes no further.
	// The hub uses it to hold a helper's view of a student's server to
	// reading.
	Guard func(w http.ResponseWriter, r *http.Request, user, server string) bool

	// Transport carries requests to containers. If nil, a transport tuned
	// for many containers on a private network is used: keep-alives, 100
	// idle connections per container, a 5 s dial timeout, no compression
	// and no proxy from the environment.
	Transport http.RoundTripper

	// Logger receives debug events about failed forwards. It never receives
	// cookies, headers or query strings. If nil, nothing is logged.
	Logger *slog.Logger

	// FrameAncestors, if set, returns the origins of the LMS pages that may
	// show servers' pages in a frame. The frame-ancestors directive of
	// responses (jupyter_server allows only 'self') becomes 'self' and these
	// origins, one is added where a response has none, and X-Frame-Options
	// is removed. If nil, responses pass as they are.
	FrameAncestors func() []string

	// CrossSiteCookies makes the cookies servers set work inside an LMS
	// page: every Set-Cookie gets Secure, SameSite=None and Partitioned.
	// Set it only when the hub is served over HTTPS; browsers drop Secure
	// cookies sent over plain HTTP.
	CrossSiteCookies bool
}

// Proxy is an http.Handler that forwards requests for users' servers to
// their containers. Create it with [New]; it is safe for concurrent use.
type Proxy struct {
	table       *Table
	match       matcher
	stripCookie func(string) bool
	trusted     func(string) bool
	fallback    http.Handler
	unavailable http.Handler
	guard       func(http.ResponseWriter, *http.Request, string, string) bool
	log         *slog.Logger
	rp          *httputil.ReverseProxy
	// ownTransport is the default transport, whose idle connections Close
	// releases; a caller's transport is left alone.
	ownTransport     *http.Transport
	frameAncestors   func() []string
	crossSiteCookies bool

	// mu protects closed and conns. wg counts hijacked connections that
	// are still being served.
	mu     sync.Mutex
	closed bool
	conns  map[*trackedConn]struct{}
	wg     sync.WaitGroup
}

// New returns a Proxy configured by opts. It panics if opts.Table is nil.
func New(opts Options) *Proxy {
	if opts.Table == nil {
		panic("proxy: Options.Table is nil")
	}
	p := &Proxy{
		table:       opts.Table,
		match:       newMatcher(opts.Prefix),
		stripCookie: opts.StripCookie,
		trusted:     opts.TrustedProxy,
		fallback:    opts.Fallback,
		unavailable: opts.Unavailable,
		guard:       opts.Guard,
		log:         opts.Logger,
		conns:       make(map[*trackedConn]struct{}),

		frameAncestors:   opts.FrameAncestors,
		crossSiteCookies: opts.CrossSiteCookies,
	}
	if p.fallback == nil {
		p.fallback = http.NotFoundHandler()
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	transport := opts.Transport
	if transport == nil {
		p.ownTransport = newTransport()
		transport = p.ownTransport
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      transport,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.handleError,
		// Flush every write, as configurable-http-proxy does: notebook
		// output, terminals and event streams must not wait in a buffer.
		// ReverseProxy already does so for event streams and responses of
		// unknown length; this covers slow bodies of known length too.
		FlushInterval: -1,
		BufferPool:    bufferPool{},
		ErrorLog:      slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	return p
}

// forward is what ServeHTTP learns about a request and hands, through the
// request context, to the ReverseProxy callbacks and the hub's handlers.
type forward struct {
	in           *http.Request // the request as the client sent it
	user, server string
	e            *entry // nil when no route matched
}

type forwardKey struct{}

// RequestedServer returns the decoded user and server names of a request the
// Proxy passed to Fallback or Unavailable, and reports whether the request
// addressed a server at all.
func RequestedServer(r *http.Request) (user, server string, ok bool) {
	fw, ok := r.Context().Value(forwardKey{}).(*forward)
	if !ok {
		return "", "", false
	}
	return fw.user, fw.server, true
}

// ServeHTTP forwards r to the server its path names, redirects the bare
// server URL to its slash form, and passes everything else to Fallback.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, server, slash, ok := p.match.match(r.URL.EscapedPath())
	if !ok {
		p.fallback.ServeHTTP(w, r)
		return
	}
	if !slash {
		// The redirect does not depend on whether the server runs, so it
		// reveals nothing about other users' servers.
		redirectSlash(w, r)
		return
	}
	fw := &forward{user: user, server: server}
	r = r.WithContext(context.WithValue(r.Context(), forwardKey{}, fw))
	fw.in = r
	e, found := p.table.lookup(user, server)
	if !found {
		p.fallback.ServeHTTP(w, r)
		return
	}
	if p.guard != nil && !p.guard(w, r, user, server) {
		return
	}
	fw.e = e
	e.act.touch(p.table.now())
	if upgradeType(r.Header) != "" {
		uw := &upgradeWriter{ResponseWriter: w, p: p, act: e.act}
		defer uw.release()
		w = uw
	}
	p.rp.ServeHTTP(w, r)
}

// redirectSlash sends the client from .../user/<name>/<server> to the same
// path with a trailing slash, keeping the escaped path and the query as
// sent. http.Redirect is avoided because it cleans the path.
func redirectSlash(w http.ResponseWriter, r *http.Request) {
	loc := r.URL.EscapedPath() + "/"
	if r.URL.RawQuery != "" {
		loc += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusMovedPermanently)
}

// rewrite turns the inbound request into the one the container receives.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	fw := pr.In.Context().Value(forwardKey{}).(*forward)
	pr.SetURL(fw.e.target)
	// Jupyter builds redirects and checks Origin against the Host it sees,
	// so it must see the one the browser used.
	pr.Out.Host = pr.In.Host
	// ReverseProxy drops query parameters it cannot parse (semicolons, bad
	// escapes) to avoid parsing differences between a checking proxy and
	// its backend. This proxy never looks at the query, so there is no such
	// difference, and the container gets the query exactly as sent.
	pr.Out.URL.RawQuery = pr.In.URL.RawQuery
	setForwarded(pr, p.trusted != nil && p.trusted(pr.In.RemoteAddr))
	stripCookies(pr.Out.Header, p.stripCookie)
	if pr.Out.Body != nil && pr.Out.Body != http.NoBody {
		pr.Out.Body = &activityBody{ReadCloser: pr.Out.Body, act: fw.e.act, now: p.table.now}
	}
}

// modifyResponse stamps activity while the response body streams.
//
// Response headers pass unchanged but for framing and cookies (see
// Options.FrameAncestors and Options.CrossSiteCookies).
// Access-Control-Allow-* headers are left alone on purpose: Jupyter sends
// them only when its owner configured allow_origin, the hub's cookies never
// reach the container, and a CORS grant on a server's own responses exposes
// nothing beyond that server, which its owner controls anyway; removing
// them would only break that deliberate setting. No X-Frame-Options is
// added because LMSs embed the servers in iframes; framing is governed by
// the CSP.
func (p *Proxy) modifyResponse(res *http.Response) error {
	p.embedHeaders(res.Header)
	if res.StatusCode == http.StatusSwitchingProtocols || res.Body == nil || res.Body == http.NoBody {
		// A 101 body is the raw connection ReverseProxy needs unwrapped;
		// the hijacked client side is stamped instead.
		return nil
	}
	fw := res.Request.Context().Value(forwardKey{}).(*forward)
	res.Body = &activityBody{ReadCloser: res.Body, act: fw.e.act, now: p.table.now}
	return nil
}

// handleError answers a request whose container could not be reached.
func (p *Proxy) handleError(w http.ResponseWriter, r *http.Request, err error) {
	fw := r.Context().Value(forwardKey{}).(*forward)
	if uw, ok := w.(*upgradeWriter); ok && uw.conn != nil {
		// The connection was hijacked; there is no response to write.
		p.log.Debug("websocket ended", "user_name", fw.user, "server_name", fw.server, "error", err)
		return
	}
	if r.Context().Err() != nil {
		p.log.Debug("client went away", "user_name", fw.user, "server_name", fw.server)
		return
	}
	p.log.Debug("server unavailable",
		"user_name", fw.user,
		"server_name", fw.server,
		"server_key", fw.e.key,
		"target", fw.e.target.Host,
		"method", fw.in.Method,
		"path", fw.in.URL.EscapedPath(),
		"error", err)
	if p.unavailable != nil {
		p.unavailable.ServeHTTP(w, fw.in)
		return
	}
	http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
}

// Close ends every websocket (or other upgraded connection) the Proxy is
// carrying, waits until their handlers have returned, and refuses upgrades
// from then on. Plain requests are still served; stop them with
// http.Server.Shutdown, which does not wait for hijacked connections.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	conns := make([]*trackedConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.Conn.Close()
	}
	p.wg.Wait()
	if p.ownTransport != nil {
		p.ownTransport.CloseIdleConnections()
	}
	if len(conns) > 0 {
		p.log.Debug("closed upgraded connections", "count", len(conns))
	}
}
