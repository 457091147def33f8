package lms

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Moodle identifies itself with these values in every launch; the captured
// Moodle 4.5.6 sent the same version.
const (
	moodleVersion   = "2024100706"
	extLMS          = "moodle-2"
	productFamily   = "moodle"
	siteName        = "labhub-lms"
	siteDescription = "LTI platform of the Labhub test suite"
	defaultGradeMax = 100.0
	accessTokenLife = 3600 * time.Second
)

// Options configures a Platform.
type Options struct {
	// Issuer is the platform's base URL and the iss of its tokens, e.g. an
	// httptest server URL or "<labhub public url>/demo". It may contain a
	// path; all endpoints live under it. If empty, call SetIssuer before use.
	Issuer string
	// KeyID is the kid of the signing key. If empty, a random one is used.
	KeyID string
	// Now is the clock. If nil, time.Now is used.
	Now func() time.Time
	// HTTPClient fetches tools' key sets. If nil, a client with a 10 s
	// timeout is used.
	HTTPClient *http.Client
	// TokenLifetime is the id_token lifetime. If zero, 60 s as in Moodle.
	TokenLifetime time.Duration
	// DropAuthorizationHeader simulates an Apache in front of Moodle that
	// drops the Authorization header: service calls then fail with 401 (or
	// the status Moodle answers for a missing credential).
	DropAuthorizationHeader bool
	// Down makes every endpoint answer 503 until SetDown(false).
	Down bool

	// The options below make the platform behave like other LMSs; their
	// zero values keep it Moodle.

	// TokenIssuer is the iss of launches when it differs from the base URL
	// the endpoints live under: Canvas signs every hosted instance's
	// launches as https://canvas.instructure.com, Blackboard as
	// https://blackboard.com.
	TokenIssuer string
	// LoginDeploymentParam names the deployment parameter of login
	// initiations. If empty, lti_deployment_id (the specification, Moodle,
	// Sakai); Canvas sends deployment_id.
	LoginDeploymentParam string
	// LoginExtra are further parameters of login initiations, such as
	// Canvas' canvas_region and canvas_environment.
	LoginExtra Form
	// StorageTarget, if set, is offered as lti_storage_target at login and
	// launch, and the embedding page answers the platform storage
	// postMessages (lti.put_data, lti.get_data) in a frame of that name:
	// Canvas uses "post_message_forwarding", Sakai "_parent".
	StorageTarget string
	// RoleURNs sends membership roles as LTI 1.1 URNs
	// (urn:lti:role:ims/lis/Instructor) in launches and memberships, as
	// Blackboard does.
	RoleURNs bool
	// TokenAudience, if set, is the audience client assertions must name
	// instead of the token URL, and the authorization_server of the OpenID
	// configuration (Brightspace).
	TokenAudience string
	// MessagesAsObjects writes messages_supported of the OpenID
	// configuration as objects, as the specification and Canvas do; Moodle
	// writes strings.
	MessagesAsObjects bool
}

// Platform is an in-memory LTI platform. It is safe for concurrent use.
type Platform struct {
	now           func() time.Time
	client        *http.Client
	tokenLifetime time.Duration
	mux           *http.ServeMux

	// mu protects the fields below.
	mu         sync.Mutex
	issuer     *url.URL
	keys       []*signingKey // the last one signs; all are published
	dropAuth   bool
	tokenFail  int // status of token endpoint refusals, 0 for Moodle's 400
	down       bool
	tools      []*Tool
	nextTypeID int
	courses    map[string]*courseState
	links      map[linkKey]*linkState
	nextCMID   int
	sessions   map[string]*session
	launches   map[string]*pendingLaunch
	tokens     map[string]*accessToken
	keysets    map[string][]byte // tool client id -> cached key set
	items      map[int]*lineItem
	nextItemID int
	tokenReqs  int
	scoreReqs  int
	certsReqs  int
	outcomeReq int

	tokenIssuer          string
	loginDeploymentParam string
	loginExtra           Form
	storageTarget        string
	roleURNs             bool
	tokenAudience        string
	messagesAsObjects    bool
	regTokensUsed        map[string]bool         // registration token subjects already used
	tickets              map[string]*loginTicket // one-time browser logins
	deepLinked           []DeepLinkedItem
}

// New returns a Platform with a fresh RSA-2048 signing key.
func New(opts Options) (*Platform, error) {
	p := &Platform{
		now:           opts.Now,
		client:        opts.HTTPClient,
		tokenLifetime: opts.TokenLifetime,
		dropAuth:      opts.DropAuthorizationHeader,
		down:          opts.Down,
		courses:       map[string]*courseState{},
		links:         map[linkKey]*linkState{},
		sessions:      map[string]*session{},
		launches:      map[string]*pendingLaunch{},
		tokens:        map[string]*accessToken{},
		keysets:       map[string][]byte{},
		items:         map[int]*lineItem{},

		tokenIssuer:          opts.TokenIssuer,
		loginDeploymentParam: opts.LoginDeploymentParam,
		loginExtra:           opts.LoginExtra,
		storageTarget:        opts.StorageTarget,
		roleURNs:             opts.RoleURNs,
		tokenAudience:        opts.TokenAudience,
		messagesAsObjects:    opts.MessagesAsObjects,
		regTokensUsed:        map[string]bool{},
		tickets:              map[string]*loginTicket{},
	}
	if p.loginDeploymentParam == "" {
		p.loginDeploymentParam = "lti_deployment_id"
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.client == nil {
		p.client = &http.Client{Timeout: 10 * time.Second}
	}
	if p.tokenLifetime == 0 {
		p.tokenLifetime = 60 * time.Second
	}
	if opts.Issuer != "" {
		if err := p.setIssuer(opts.Issuer); err != nil {
			return nil, err
		}
	}
	k, err := newSigningKey(opts.KeyID)
	if err != nil {
		return nil, fmt.Errorf("create platform: %w", err)
	}
	p.keys = []*signingKey{k}
	p.mux = p.routes()
	return p, nil
}

// SetIssuer changes the issuer, for httptest servers whose URL is known only
// after they start. It panics on a URL that is not absolute, because that is
// a mistake in the test rather than a runtime condition.
func (p *Platform) SetIssuer(u string) {
	if err := p.setIssuer(u); err != nil {
		panic(err)
	}
}

func (p *Platform) setIssuer(raw string) error {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return fmt.Errorf("parse issuer: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.RawQuery != "" {
		return fmt.Errorf("parse issuer: %q is not an absolute http(s) URL without query", raw)
	}
	p.mu.Lock()
	p.issuer = u
	p.mu.Unlock()
	return nil
}

// Issuer returns the issuer URL, without a trailing slash.
func (p *Platform) Issuer() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.issuerLocked()
}

func (p *Platform) issuerLocked() string {
	if p.issuer == nil {
		return ""
	}
	return p.issuer.String()
}

// TokenIssuer returns the iss of launches: Options.TokenIssuer, else the
// issuer URL.
func (p *Platform) TokenIssuer() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tokenIssuerLocked()
}

func (p *Platform) tokenIssuerLocked() string {
	if p.tokenIssuer != "" {
		return p.tokenIssuer
	}
	return p.issuerLocked()
}

// endpointLocked returns the absolute URL of a platform path.
func (p *Platform) endpointLocked(path string) string {
	return p.issuerLocked() + path
}

// siteGUIDLocked returns tool_consumer_instance_guid and tool_platform.guid:
// Moodle sends a 32-digit hex site identifier.
func (p *Platform) siteGUIDLocked() string {
	sum := md5.Sum([]byte(p.issuerLocked()))
	return hex.EncodeToString(sum[:])
}

// SetHTTPClient changes the client that fetches tools' key sets, for tools
// served over TLS with a test certificate.
func (p *Platform) SetHTTPClient(c *http.Client) {
	p.mu.Lock()
	p.client = c
	p.mu.Unlock()
}

// SetDown makes every endpoint answer 503 (true) or serve normally (false).
func (p *Platform) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
}

// SetDropAuthorizationHeader switches the DropAuthorizationHeader option.
func (p *Platform) SetDropAuthorizationHeader(drop bool) {
	p.mu.Lock()
	p.dropAuth = drop
	p.mu.Unlock()
}

// SetTokenRefusalStatus makes the token endpoint answer its refusals with
// status instead of Moodle's 400: RFC 6749 allows 401 for invalid_client,
// and some platforms send it. 0 restores 400.
func (p *Platform) SetTokenRefusalStatus(status int) {
	p.mu.Lock()
	p.tokenFail = status
	p.mu.Unlock()
}

// TokenRequests returns how many requests reached the token endpoint.
func (p *Platform) TokenRequests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tokenReqs
}

// CertsRequests returns how many requests reached the key set endpoint.
func (p *Platform) CertsRequests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.certsReqs
}

// ScoreRequests returns how many requests reached a scores endpoint.
func (p *Platform) ScoreRequests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.scoreReqs
}

// OutcomeRequests returns how many requests reached the LTI 1.1 outcomes
// endpoint.
func (p *Platform) OutcomeRequests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outcomeReq
}

// ForgetTokens drops every access token the platform issued, as a Moodle
// whose token table was emptied: services answer 401 to them.
func (p *Platform) ForgetTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.tokens)
}

// Handler returns the platform's HTTP handler. It serves paths under the
// issuer's path, so it can be mounted as is at the issuer's location.
func (p *Platform) Handler() http.Handler {
	return http.HandlerFunc(p.serveHTTP)
}

func (p *Platform) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	down, drop := p.down, p.dropAuth
	prefix := ""
	if p.issuer != nil {
		prefix = strings.TrimRight(p.issuer.EscapedPath(), "/")
	}
	p.mu.Unlock()
	if down {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	if drop && r.Header.Get("Authorization") != "" {
		r = r.Clone(r.Context())
		r.Header.Del("Authorization")
	}
	if prefix == "" {
		p.mux.ServeHTTP(w, r)
		return
	}
	// Strip the issuer path by hand so that "/demo" itself reaches the demo
	// page, which http.StripPrefix would hand on as an empty path.
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), prefix)
	if !ok || rest != "" && rest[0] != '/' {
		http.NotFound(w, r)
		return
	}
	if rest == "" {
		rest = "/"
	}
	path, err := url.PathUnescape(rest)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = path, rest
	p.mux.ServeHTTP(w, r2)
}

// routes builds the mux of all endpoints, relative to the issuer path.
func (p *Platform) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /mod/lti/certs.php", p.handleCerts)
	m.HandleFunc("GET /mod/lti/auth.php", p.handleAuth)
	m.HandleFunc("POST /mod/lti/auth.php", p.handleAuth)
	m.HandleFunc("/mod/lti/token.php", p.handleToken)
	m.HandleFunc("POST /mod/lti/service.php", p.handleOutcomes)
	const svc = "/mod/lti/services.php/"
	m.HandleFunc("GET "+svc+"CourseSection/{course}/bindings/{type}/memberships", p.handleMemberships)
	m.HandleFunc("GET "+svc+"{course}/lineitems", p.handleLineItems)
	m.HandleFunc("POST "+svc+"{course}/lineitems", p.handleLineItems)
	m.HandleFunc(svc+"{course}/lineitems/{item}/lineitem", p.handleLineItem)
	m.HandleFunc(svc+"{course}/lineitems/{item}/lineitem/scores", p.handleScores)
	m.HandleFunc(svc+"{course}/lineitems/{item}/lineitem/results", p.handleResults)
	m.HandleFunc("GET /mod/lti/openid-configuration.php", p.handleOpenIDConfiguration)
	m.HandleFunc("/mod/lti/openid-registration.php", p.handleRegistration)
	m.HandleFunc("GET /mod/lti/startltiadvregistration.php", p.handleStartRegistration)
	m.HandleFunc("POST /mod/lti/contentitem_return.php", p.handleContentItemReturn)
	m.HandleFunc("GET /mod/lti/view.php", p.handleView)
	m.HandleFunc("GET /mod/lti/launch.php", p.handleEmbedLaunch)
	m.HandleFunc("GET /mod/lti/post_message_forwarding.php", p.handleStorageFrame)
	m.HandleFunc("GET /login/index.php", p.handleTicketLogin)
	m.HandleFunc("GET /{$}", p.handleDemoPage)
	m.HandleFunc("POST /launch", p.handleDemoLaunch13)
	m.HandleFunc("POST /lti11", p.handleDemoLaunch11)
	m.HandleFunc("POST /add-activity", p.handleDemoAddActivity)
	return m
}
