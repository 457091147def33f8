package web_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/advantage"
	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/proxy"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/seal"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
	"github.com/labhub/labhub/toolkey"
	"github.com/labhub/labhub/web"
)

// fakeDocker counts what the hub asks of the engine. It has no image, so a
// start that gets as far as the engine fails at once.
type fakeDocker struct {
	mu     sync.Mutex
	starts int
	calls  int
	images []string // image references asked about, in order
}

// Images returns the image references the hub asked about.
func (f *fakeDocker) Images() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.images...)
}

func (f *fakeDocker) count(start bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if start {
		f.starts++
	}
}

func (f *fakeDocker) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeDocker) EnsureVolume(context.Context, string, map[string]string, string, string) (bool, error) {
	f.count(false)
	return false, errors.New("fake engine")
}
func (f *fakeDocker) ImagePresent(_ context.Context, ref string) (bool, error) {
	f.count(false)
	f.mu.Lock()
	f.images = append(f.images, ref)
	f.mu.Unlock()
	return false, nil
}
func (f *fakeDocker) Start(context.Context, spawner.Spec) (spawner.Server, error) {
	f.count(true)
	return spawner.Server{}, errors.New("fake engine")
}
func (f *fakeDocker) Stop(context.Context, string, time.Duration) error { return nil }
func (f *fakeDocker) Inspect(context.Context, string, string) (spawner.Server, error) {
	return spawner.Server{}, spawner.ErrNotFound
}
func (f *fakeDocker) List(context.Context, map[string]string, string) ([]spawner.Server, error) {
	return nil, nil
}

type routes struct{ *proxy.Table }

func (r routes) LastActivity(user, server string) (time.Time, bool) {
	rt, ok := r.Lookup(user, server)
	return rt.LastActivity, ok
}

// harness is a hub in process, registered with a platform double, on a
// fake engine.
type harness struct {
	t        testing.TB
	db       *store.DB
	docker   *fakeDocker
	platform *lms.Platform
	lmsURL   string
	hub      *httptest.Server
	handler  http.Handler
	clientID string
	key      string
	srv      *web.Server
	secret   string
	now      time.Time
	clock    sync.Mutex
	seal     *seal.Keyring
	registry *registry.Registry
	keys     *toolkey.Keys
	auth     *auth.Service
	roster   *course.RosterSyncer
}

func (h *harness) Now() time.Time {
	h.clock.Lock()
	defer h.clock.Unlock()
	if h.now.IsZero() {
		return time.Now()
	}
	return h.now
}

// harnessOptions change what newHarnessWith builds.
type harnessOptions struct {
	// lms configures the platform double; its Now is the harness clock.
	lms lms.Options
	// unregistered leaves the platform out of Labhub's registry and the
	// tool out of the platform (dynamic registration registers them).
	unregistered bool
	// tls serves the hub over HTTPS.
	tls bool
	// registration is the dynamic registration policy.
	registration string
	// roster syncs rosters after teachers' launches, pages of rosterPage.
	roster     bool
	rosterPage int
	// tokenAudience is registered as the platform's token audience.
	tokenAudience string
	// keyCache, if set, is the verifier's keyset cache.
	keyCache *lti.KeySetCache
	// tune may change the harness and the hub's options before the server
	// is built.
	tune []func(*harness, *web.Options)
}

// newHarness assembles the hub; tune may change the harness and the hub's
// options before the server is built.
func newHarness(t testing.TB, tune ...func(*harness, *web.Options)) *harness {
	return newHarnessWith(t, harnessOptions{tune: tune})
}

func newHarnessWith(t testing.TB, o harnessOptions) *harness {
	h := &harness{t: t, docker: &fakeDocker{}, clientID: lms.NewClientID(), key: "moodle-key", secret: "s3cret"}
	h.db = testutil.SQLite(t)
	ctx := context.Background()
	keys, err := seal.New("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	require.NoError(t, err)
	h.seal = keys

	o.lms.Now = h.Now
	p, err := lms.New(o.lms)
	require.NoError(t, err)
	lmsSrv := httptest.NewServer(p.Handler())
	t.Cleanup(lmsSrv.Close)
	p.SetIssuer(lmsSrv.URL)
	h.platform, h.lmsURL = p, lmsSrv.URL

	h.hub = httptest.NewUnstartedServer(nil)
	if o.tls {
		h.hub.StartTLS()
	} else {
		h.hub.Start()
	}
	t.Cleanup(h.hub.Close)
	public := h.hub.URL + "/"

	reg := registry.New(h.db, keys, nil)
	h.registry = reg
	_, err = reg.PutConsumer(ctx, h.key, h.secret, "")
	require.NoError(t, err)
	if !o.unregistered {
		_, err = reg.PutPlatform(ctx, registry.PlatformInput{Issuer: p.TokenIssuer(), ClientID: h.clientID,
			AuthURL: lmsSrv.URL + "/mod/lti/auth.php", TokenURL: lmsSrv.URL + "/mod/lti/token.php",
			TokenAudience: o.tokenAudience, JWKSURL: lmsSrv.URL + "/mod/lti/certs.php", Deployments: []string{"1"},
			Origins: []string{lmsSrv.URL}})
		require.NoError(t, err)
		p.AddTool(lms.Tool{ClientID: h.clientID, DeploymentID: "1", LoginURL: public + "lti/login",
			RedirectURIs: []string{public + "lti/launch"}, TargetLinkURI: public + "lti/launch",
			JWKSURL: public + "lti/jwks", LTI11LaunchURL: public + "hub/lti/launch", ConsumerKey: h.key, SharedSecret: h.secret})
	}

	tk := toolkey.New(h.db, keys, nil)
	require.NoError(t, tk.Ensure(ctx))
	h.keys = tk
	quiet := slog.New(slog.DiscardHandler)
	a := auth.New(h.db, keys.Derive("cookie", 32), nil)
	table := proxy.NewTable()
	mgr := course.NewManager(h.db, a, h.docker, routes{table}, course.Options{PublicURL: public,
		HubAPIURL: "http://hub.invalid/hub/api", Network: "n", Instance: "test", DefaultImage: "img",
		NotebookDir: "/home/jovyan", Logger: quiet})
	t.Cleanup(mgr.Wait)
	nonces := registry.NewNonces(h.db, h.Now)
	courses := course.NewService(h.db, nil)
	h.auth = a
	adv := web.AdvantageOptions{Registration: o.registration}
	if o.roster {
		// The platform double fetches Labhub's keyset over the test server's
		// own TLS when there is one.
		h.roster = &course.RosterSyncer{Service: courses, Logger: quiet,
			Source: (&advantage.Roster{Tokens: &advantage.Tokens{Keys: tk}, PageSize: o.rosterPage}).Members}
		adv.Roster = h.roster
		t.Cleanup(h.roster.Wait)
	}
	if o.tls {
		p.SetHTTPClient(h.hub.Client())
	}
	keyCache := o.keyCache
	if keyCache == nil {
		keyCache = &lti.KeySetCache{}
	}
	opts := web.Options{
		PublicURL: public, CompatVersion: "5.3.0", Version: "test", CookieKey: keys.Derive("cookie", 32),
		DB: h.db, Auth: a, Registry: reg, Courses: courses, Manager: mgr, Keys: tk,
		LTI11: &lti.LTI11Verifier{Secrets: reg.Secret, Nonces: nonces, Now: h.Now},
		LTI13: &lti.LTI13Verifier{Keys: keyCache, Lookup: reg.Platform, Nonces: nonces, Now: h.Now,
			AcceptDeployment: reg.AcceptDeployment},
		State: &lti.StateCodec{Key: keys.Derive("lti-state", 32), Now: h.Now},
		Proxy: proxy.New(proxy.Options{Table: table, Prefix: "/"}), Logger: quiet,
		Advantage: adv,
	}
	for _, f := range o.tune {
		f(h, &opts)
	}
	if opts.Accounts != nil {
		courses.Blocked = opts.Accounts.Blocked
	}
	srv, err := web.New(opts)
	require.NoError(t, err)
	h.srv = srv
	h.handler = srv.Handler()
	h.hub.Config.Handler = h.handler
	return h
}

// client returns a browser-like client that does not follow redirects.
func (h *harness) client() *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(h.t, err)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if h.hub.TLS != nil {
		c.Transport = h.hub.Client().Transport
	}
	return c
}

// advance moves the harness clock (and the platform's) forward.
func (h *harness) advance(d time.Duration) {
	h.clock.Lock()
	defer h.clock.Unlock()
	if h.now.IsZero() {
		h.now = time.Now()
	}
	h.now = h.now.Add(d)
}

// settle waits until no server start is under way, so what a start writes
// does not mix with what a later request writes.
func (h *harness) settle() {
	h.t.Helper()
	require.Eventually(h.t, func() bool {
		var n int64
		require.NoError(h.t, h.db.Model(&store.Server{}).Where("state IN ?", []string{store.StateStopped, store.StateStarting}).Count(&n).Error)
		return n == 0
	}, 10*time.Second, 10*time.Millisecond)
}

// counts returns the number of rows of every table a launch writes to.
func (h *harness) counts() map[string]int64 {
	out := map[string]int64{}
	for _, table := range []string{"users", "identities", "courses", "enrollments", "activities", "grade_links",
		"servers", "sessions", "nonces", "tokens", "oauth_clients"} {
		var n int64
		require.NoError(h.t, h.db.Table(table).Count(&n).Error)
		out[table] = n
	}
	return out
}

// csrfField finds the CSRF token of a page's form.
var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// csrfOf returns the CSRF token of the first form in body.
func csrfOf(t *testing.T, body string) string {
	m := csrfField.FindStringSubmatch(body)
	require.NotNil(t, m, "page has a form")
	return m[1]
}
