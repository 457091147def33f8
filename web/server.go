// Package web is Labhub's HTTP front: LTI launch endpoints, the JupyterHub
// API that notebook servers call, the pages people see, and the operations
// endpoints. Handlers are thin: they parse a request, call package lti,
// course, auth or registry, and render the outcome. Requests under
// <base>user/ go straight to the proxy.
//
// web depends on account, auth, course, lti, advantage, registry, toolkey and
// store; nothing depends on web but the command.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/labhub/labhub/account"
	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/grade"
	"github.com/labhub/labhub/handin"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/store"
	"github.com/labhub/labhub/toolkey"
)

// Options configures a Server.
type Options struct {
	// PublicURL is the hub's public URL ending in "/", path included.
	PublicURL string
	// TrustedProxies are the fronts whose X-Forwarded-* headers count.
	TrustedProxies []netip.Prefix
	// CompatVersion is the JupyterHub version reported to singleuser.
	CompatVersion string
	// Version is Labhub's own version.
	Version string
	// CookieKey signs CSRF tokens.
	CookieKey []byte

	DB       *store.DB
	Auth     *auth.Service
	Registry *registry.Registry
	Courses  *course.Service
	Manager  *course.Manager
	Keys     *toolkey.Keys
	LTI11    *lti.LTI11Verifier
	LTI13    *lti.LTI13Verifier
	State    *lti.StateCodec
	// Accounts runs native accounts and LDAP logins; nil means LTI only.
	Accounts *account.Service

	// Grades and Handins serve the grading and hand-in pages and API; nil
	// leaves them out.
	Grades  *grade.Service
	Handins *handin.Service

	// Proxy serves <base>user/...
	Proxy http.Handler
	// Demo, if set, is mounted at <base>demo/.
	Demo http.Handler
	// Ready reports whether dependencies (database, Docker) answer.
	Ready func(ctx context.Context) error
	// Metrics registers the hub's metrics; nil means a private registry.
	Metrics *prometheus.Registry
	Logger  *slog.Logger
	// Advantage configures dynamic registration, deep linking, roster sync
	// and launches inside LMS pages.
	Advantage AdvantageOptions
}

// Server is the HTTP front.
type Server struct {
	Options
	base    string
	secure  bool
	origin  string
	log     *slog.Logger
	public  *gin.Engine
	api     *gin.Engine
	metrics *metrics
}

// New builds the server's routes.
func New(o Options) (*Server, error) {
	u, err := url.Parse(o.PublicURL)
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = prometheus.NewRegistry()
	}
	s := &Server{Options: o, base: u.Path, secure: u.Scheme == "https", origin: u.Scheme + "://" + u.Host, log: o.Logger}
	if s.base == "" {
		s.base = "/"
	}
	s.metrics = newMetrics(o.Metrics, o.DB)
	gin.SetMode(gin.ReleaseMode)
	s.public = s.newEngine()
	s.api = s.newEngine()
	s.routes()
	return s, nil
}

func (s *Server) newEngine() *gin.Engine {
	e := gin.New()
	e.UseRawPath = true
	e.UnescapePathValues = true
	e.RedirectTrailingSlash = false
	e.HandleMethodNotAllowed = true
	e.Use(s.recover(), s.accessLog(), s.headers())
	return e
}

// Handler is the public handler: pages, LTI, the hub API and the proxy.
func (s *Server) Handler() http.Handler {
	userPrefix := s.base + "user/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, userPrefix) {
			s.Proxy.ServeHTTP(w, r)
			return
		}
		s.public.ServeHTTP(w, r)
	})
}

// APIHandler is the handler of the listener only containers reach: the
// hub API and nothing else.
func (s *Server) APIHandler() http.Handler { return s.api }

func (s *Server) routes() {
	for _, e := range []*gin.Engine{s.public, s.api} {
		g := e.Group(strings.TrimSuffix(s.base, "/"))
		g.GET("/hub/api", s.apiRoot)
		g.GET("/hub/api/", s.apiRoot)
		g.GET("/hub/api/user", s.apiUser)
		g.POST("/hub/api/oauth2/token", s.oauthToken)
		g.POST("/hub/api/users/:user/activity", s.apiActivity)
	}
	g := s.public.Group(strings.TrimSuffix(s.base, "/"))
	g.GET("/hub/api/oauth2/authorize", s.oauthAuthorize)
	g.GET("/hub/api/users/:user/servers/:server/progress", s.apiProgress)

	g.POST("/hub/lti/launch", s.lti11Launch)
	g.GET("/lti/login", s.lti13Login)
	g.POST("/lti/login", s.lti13Login)
	g.POST("/lti/launch", s.lti13Launch)
	g.GET("/lti/jwks", s.jwks)
	s.advantageRoutes(g)

	g.GET("/", s.root)
	g.GET("/hub", s.root)
	g.GET("/hub/", s.root)
	g.GET("/hub/home", s.home)
	g.GET("/hub/login", s.login)
	g.GET("/hub/logout", s.logoutPage)
	g.POST("/hub/logout", s.logout)
	g.GET("/hub/spawn-pending/:user/:server", s.spawnPending)
	g.POST("/hub/spawn/:user/:server", s.spawnServer)
	g.POST("/hub/stop/:user/:server", s.stopServer)
	g.GET("/hub/user/:user/:server", s.userFallback)
	g.GET("/hub/user/:user/:server/*rest", s.userFallback)
	s.accountRoutes(g)

	s.gradingRoutes()

	s.environmentRoutes(g)

	g.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	g.GET("/readyz", s.readyz)
	g.GET("/metrics", s.metrics.handler())
	if s.Demo != nil {
		g.Any("/demo", gin.WrapH(s.Demo))
		g.Any("/demo/*rest", gin.WrapH(s.Demo))
	}
	s.public.NoRoute(s.noRoute(false))
	s.public.NoMethod(s.noMethod(false))
	s.api.NoRoute(s.noRoute(true))
	s.api.NoMethod(s.noMethod(true))
}

// isAPI reports whether a request is for one of the JSON APIs: always on
// the containers' listener, else under /api/ and /hub/api/.
func (s *Server) isAPI(c *gin.Context, apiOnly bool) bool {
	p := c.Request.URL.Path
	return apiOnly || strings.HasPrefix(p, s.base+"api/") || strings.HasPrefix(p, s.base+"hub/api/") ||
		p == s.base+"hub/api"
}

// noRoute answers an address with no handler.
func (s *Server) noRoute(apiOnly bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.isAPI(c, apiOnly) {
			apiError(c, http.StatusNotFound, "not found")
			return
		}
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "Page not found",
			Message: "There is nothing at this address.", Code: "not_found"})
	}
}

// noMethod answers a method the address does not take; gin has set the
// Allow header already.
func (s *Server) noMethod(apiOnly bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		allow := c.Writer.Header().Get("Allow")
		if s.isAPI(c, apiOnly) {
			apiError(c, http.StatusMethodNotAllowed, c.Request.Method+" is not allowed here; use "+allow)
			return
		}
		s.fail(c, problem{Status: http.StatusMethodNotAllowed, Heading: "Request refused",
			Message: "This address does not take " + c.Request.Method + " requests; it takes " + allow + ".",
			Action:  "Use the buttons and links of Labhub's pages rather than typing this address.",
			Code:    "method_not_allowed"})
	}
}

func (s *Server) recover() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panicked", "path", c.Request.URL.Path, "panic", v)
				c.AbortWithStatus(http.StatusInternalServerError)
			}
		}()
		c.Next()
	}
}

// accessLog logs requests without query strings, which may carry tokens.
func (s *Server) accessLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		lvl := slog.LevelDebug
		if c.Writer.Status() >= 500 {
			lvl = slog.LevelWarn
		}
		s.log.Log(c.Request.Context(), lvl, "handled request", "method", c.Request.Method,
			"path", c.Request.URL.Path, "status", c.Writer.Status(),
			"duration_ms", time.Since(start).Milliseconds(), "remote_addr", s.clientIP(c.Request))
	}
}

func (s *Server) headers() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-JupyterHub-Version", s.CompatVersion)
		h.Set("X-Labhub-Version", s.Version)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		s.frameHeaders(c)
		c.Next()
	}
}

// trusted reports whether the request came through a trusted front.
func (s *Server) trusted(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// TrustedProxy reports whether remoteAddr is a trusted front; the proxy uses
// it too.
func (s *Server) TrustedProxy(remoteAddr string) bool {
	return s.trusted(&http.Request{RemoteAddr: remoteAddr})
}

// clientIP is the address of the client, believing X-Forwarded-For only
// from a trusted front.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if s.trusted(r) {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			parts := strings.Split(xff, ",")
			return strings.TrimSpace(parts[len(parts)-1])
		}
	}
	return host
}

// externalURL is the URL of r as the browser or LMS addressed it: from a
// trusted front's X-Forwarded-Proto and X-Forwarded-Host, or when it sends
// neither from its RFC 7239 Forwarded header (proto= and host=), else the
// public URL's scheme and host, with r's path. The query is left out.
func (s *Server) externalURL(r *http.Request) string {
	origin := s.origin
	if s.trusted(r) {
		proto := firstValue(r.Header.Get("X-Forwarded-Proto"))
		host := firstValue(r.Header.Get("X-Forwarded-Host"))
		if proto == "" && host == "" {
			proto, host = forwardedOrigin(r)
		}
		if host == "" && proto != "" {
			host = r.Host
		}
		if proto == "http" || proto == "https" {
			if host != "" {
				origin = proto + "://" + host
			}
		}
	}
	return origin + r.URL.EscapedPath()
}

func firstValue(h string) string {
	v, _, _ := strings.Cut(h, ",")
	return strings.TrimSpace(v)
}

// setCookie sets a hub cookie: HttpOnly; over HTTPS Secure, SameSite=None
// so it survives the cross-site posts of an LMS, and Partitioned so that it
// works inside an LMS page in browsers that block third-party cookies (it is
// then kept apart per LMS site); over plain HTTP Lax.
func (s *Server) setCookie(c *gin.Context, name, value, path string, maxAge int) {
	ck := &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge, HttpOnly: true}
	if s.secure {
		ck.Secure = true
		ck.SameSite = http.SameSiteNoneMode
		ck.Partitioned = true
	} else {
		ck.SameSite = http.SameSiteLaxMode
	}
	http.SetCookie(c.Writer, ck)
}

// OwnCookie reports whether a cookie is one of the hub's, which the proxy
// removes before a request reaches a notebook server.
func OwnCookie(name string) bool {
	return name == auth.SessionCookie || strings.HasPrefix(name, stateCookiePrefix)
}

// csrfToken is the token forms of a session carry.
func (s *Server) csrfToken(sess *store.Session) string {
	m := hmac.New(sha256.New, s.CookieKey)
	m.Write([]byte("csrf\x00" + sess.ID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether a posted form carries the session's token.
func (s *Server) checkCSRF(c *gin.Context, sess *store.Session) bool {
	got := c.PostForm("_csrf")
	return got != "" && hmac.Equal([]byte(got), []byte(s.csrfToken(sess)))
}

// session returns the logged-in session and user, or nil; a blocked
// user's session counts as none. Pages that need a login use requireLogin,
// which tells a blocked user so.
func (s *Server) session(c *gin.Context) (*store.Session, *store.User) {
	sess, u, err := s.sessionOf(c.Request)
	if err != nil {
		return nil, nil
	}
	return sess, u
}

func (s *Server) readyz(c *gin.Context) {
	if s.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
		defer cancel()
		if err := s.Ready(ctx); err != nil {
			c.String(http.StatusServiceUnavailable, "not ready: %v\n", err)
			return
		}
	}
	c.String(http.StatusOK, "ready\n")
}
