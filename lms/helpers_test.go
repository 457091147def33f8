package lms

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/require"
)

// newTestPlatform starts a platform behind an httptest server whose URL is
// the issuer.
func newTestPlatform(t *testing.T, opts Options) (*Platform, *httptest.Server) {
	t.Helper()
	p, err := New(opts)
	require.NoError(t, err)
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	p.SetIssuer(srv.URL)
	return p, srv
}

// fakeTool is a minimal LTI tool: a login handler that redirects to the
// platform's auth endpoint, a launch handler that records what is posted to
// it, a key set, and an LTI 1.1 launch handler.
type fakeTool struct {
	srv *httptest.Server
	key jwk.Key

	mu sync.Mutex
	// authMutate, if set, changes the authentication request parameters
	// before the tool redirects the browser to the platform.
	authMutate func(url.Values)
	// loginStatus, if set, makes the login handler fail with it.
	loginStatus int
	// loginByPost makes the login handler answer with a form posted to the
	// auth endpoint instead of a redirect.
	loginByPost bool
	// authURL, if set, is the platform's auth endpoint; otherwise it is
	// derived from the login's iss, which is wrong for platforms whose
	// issuer is not their address (Canvas).
	authURL    string
	launches   []url.Values
	lti11      []*http.Request
	lti11Forms []url.Values
	states     map[string]string // state -> nonce
}

func newFakeTool(t *testing.T) *fakeTool {
	t.Helper()
	key, err := jwk.FromRaw(testKey())
	require.NoError(t, err)
	require.NoError(t, key.Set(jwk.KeyIDKey, "tool-key-1"))
	require.NoError(t, key.Set(jwk.AlgorithmKey, jwa.RS256))
	f := &fakeTool{key: key, states: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/login", f.handleLogin)
	mux.HandleFunc("POST /launch", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.launches = append(f.launches, r.PostForm)
		f.mu.Unlock()
		// A redirect the Browser must hand back rather than follow.
		http.Redirect(w, r, "/user/student1/course/", http.StatusFound)
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		pub, err := jwk.PublicKeyOf(f.key)
		f.mu.Unlock()
		set := jwk.NewSet()
		if err == nil {
			err = set.AddKey(pub)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(set)
	})
	mux.HandleFunc("POST /lti11", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.lti11 = append(f.lti11, r)
		f.lti11Forms = append(f.lti11Forms, r.PostForm)
		f.mu.Unlock()
		w.Write([]byte("launched"))
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTool) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loginStatus != 0 {
		http.Error(w, "login refused", f.loginStatus)
		return
	}
	state, nonce := randomString(16, hexDigits), randomString(16, hexDigits)
	f.states[state] = nonce
	q := url.Values{
		"scope":            {"openid"},
		"response_type":    {"id_token"},
		"response_mode":    {"form_post"},
		"prompt":           {"none"},
		"client_id":        {r.Form.Get("client_id")},
		"redirect_uri":     {f.srv.URL + "/launch"},
		"login_hint":       {r.Form.Get("login_hint")},
		"lti_message_hint": {r.Form.Get("lti_message_hint")},
		"nonce":            {nonce},
		"state":            {state},
	}
	if f.authMutate != nil {
		f.authMutate(q)
	}
	auth := r.Form.Get("iss") + "/mod/lti/auth.php"
	if f.authURL != "" {
		auth = f.authURL
	}
	if f.loginByPost {
		var b strings.Builder
		b.WriteString(`<html><body><form id="auth" method="post" action="` + auth + `">`)
		for k, vs := range q {
			for _, v := range vs {
				b.WriteString(`<input type="hidden" name="` + k + `" value="` + strings.ReplaceAll(v, `"`, "&quot;") + `">`)
			}
		}
		b.WriteString(`</form><script>document.forms[0].submit()</script></body></html>`)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(b.String()))
		return
	}
	http.Redirect(w, r, auth+"?"+q.Encode(), http.StatusFound)
}

// registration returns a Tool pointing at the fake tool.
func (f *fakeTool) registration(clientID string) Tool {
	return Tool{
		ClientID:       clientID,
		LoginURL:       f.srv.URL + "/login",
		RedirectURIs:   []string{f.srv.URL + "/launch"},
		TargetLinkURI:  f.srv.URL + "/launch",
		JWKSURL:        f.srv.URL + "/jwks",
		LTI11LaunchURL: f.srv.URL + "/lti11?from=moodle",
		ConsumerKey:    clientID + "-key",
		SharedSecret:   clientID + "-secret",
	}
}

func (f *fakeTool) lastLaunch(t *testing.T) url.Values {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.launches, "the tool received no launch")
	return f.launches[len(f.launches)-1]
}

// assertion signs a client assertion with the tool's key. Claims in extra
// override the defaults.
func (f *fakeTool) assertion(t *testing.T, clientID, aud string, extra map[string]any) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewBuilder().
		Issuer(clientID).Subject(clientID).Audience([]string{aud}).
		IssuedAt(now).Expiration(now.Add(time.Minute)).JwtID(randomString(12, hexDigits)).
		Build()
	require.NoError(t, err)
	for k, v := range extra {
		require.NoError(t, tok.Set(k, v))
	}
	f.mu.Lock()
	key := f.key
	f.mu.Unlock()
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, key))
	require.NoError(t, err)
	return string(b)
}

// accessToken obtains a token for scopes from the platform.
func (f *fakeTool) accessToken(t *testing.T, p *Platform, clientID string, scopes ...string) string {
	t.Helper()
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {assertionTypeJWTBearer},
		"client_assertion":      {f.assertion(t, clientID, p.Issuer()+"/mod/lti/token.php", nil)},
		"scope":                 {strings.Join(scopes, " ")},
	}
	resp, err := http.PostForm(p.Issuer()+"/mod/lti/token.php", form)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tr))
	require.NotEmpty(t, tr.AccessToken)
	return tr.AccessToken
}

// newBrowser returns a Browser with a fresh cookie jar.
func newBrowser(t *testing.T, p *Platform) *Browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &Browser{Client: &http.Client{Jar: jar, Timeout: 10 * time.Second}, Platform: p}
}

// loggedInClient returns a client whose jar holds a platform session of u.
func loggedInClient(t *testing.T, p *Platform, u User) *http.Client {
	t.Helper()
	b := newBrowser(t, p)
	require.NoError(t, b.login(u))
	return b.client()
}

// readTestdata returns a file of testdata/.
func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	return b
}

// jwtPayload decodes the payload of a compact JWT without verifying it.
func jwtPayload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(strings.TrimSpace(token), ".")
	require.Len(t, parts, 3)
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// do sends a request and returns status, headers and body.
func do(t *testing.T, c *http.Client, req *http.Request) (int, http.Header, string) {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Test fixtures shaped like the captured Moodle launches.
var (
	student = User{ID: "4", Username: "student1", GivenName: "Sam", FamilyName: "Student",
		Email: "student1@example.invalid", Roles: []string{RoleLearner}}
	teacher = User{ID: "3", Username: "teacher1", GivenName: "Terry", FamilyName: "Teacher",
		Email: "teacher1@example.invalid", Roles: []string{RoleInstructor}}
	course = Course{ID: "2", Label: "LTI101", Title: "LTI Acceptance Course"}
	link   = Link{ID: "1", Title: "Jupyter (LTI 1.3)", LineItem: true, Custom: map[string]string{
		"activity_custom":         "lti13-demo",
		"course_shortname":        "$CourseSection.title",
		"moodle_user_login":       "$User.username",
		"context_memberships_url": "$ToolProxyBinding.memberships.url",
	}}
)

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }
