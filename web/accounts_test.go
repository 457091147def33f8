package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/account"
	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/ldapauth"
	"github.com/labhub/labhub/seal"
	"github.com/labhub/labhub/store"
	"github.com/labhub/labhub/web"
)

const (
	alicePassword = "tangerine-orbit-lantern"
	adminPassword = "marmalade-quartz-heron"
)

// fakeClock is the accounts' clock, so tests can let time pass.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// accountsHub is a hub in process with fallback logins on.
type accountsHub struct {
	*harness
	acc   *account.Service
	clock *fakeClock
	logs  *syncBuffer
}

func newAccountsHub(t testing.TB, o account.Options, configure ...func(*web.Options)) *accountsHub {
	a := &accountsHub{clock: &fakeClock{t: time.Now()}, logs: &syncBuffer{}}
	keys, err := seal.New("ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100")
	require.NoError(t, err)
	if o.Password.MinScore == 0 {
		o.Password = account.PasswordPolicy{MinLength: 10, MinScore: 2}
	}
	if o.Throttle.AccountFailures == 0 {
		o.Throttle = account.ThrottleOptions{AccountFailures: 3, AddressFailures: 20, Lockout: 10 * time.Minute}
	}
	if o.Policy == nil {
		o.Policy = &account.Policy{Blocked: account.ParseNames("root")}
	}
	o.Now = a.clock.Now
	o.Logger = slog.New(slog.NewTextHandler(a.logs, nil))
	a.harness = newHarness(t, func(_ *harness, opts *web.Options) {
		a.acc = account.New(opts.DB, keys, o)
		opts.Accounts = a.acc
		for _, f := range configure {
			f(opts)
		}
	})
	return a
}

// form GETs page and returns its CSRF token.
func (h *harness) form(c *http.Client, page string) string {
	h.t.Helper()
	resp, err := c.Get(h.hub.URL + page)
	require.NoError(h.t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(b)
	require.NotNil(h.t, m, "no CSRF token on %s: %s", page, b)
	return string(m[1])
}

func (h *harness) submit(c *http.Client, page, action string, form url.Values) (int, string, *http.Response) {
	h.t.Helper()
	form.Set("_csrf", h.form(c, page))
	resp, err := c.PostForm(h.hub.URL+action, form)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}

func (h *harness) loginAs(c *http.Client, name, password string) (int, string, *http.Response) {
	return h.submit(c, "/hub/login", "/hub/login", url.Values{"username": {name}, "password": {password}, "method": {"native"}})
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, ck := range resp.Cookies() {
		if ck.Name == auth.SessionCookie {
			return ck
		}
	}
	return nil
}

// Without fallback logins the login page explains the LMS and takes no
// passwords.
func TestLoginPageLTIOnly(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	resp, err := c.Get(h.hub.URL + "/hub/login")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(b), "Open Labhub from your course")
	require.NotContains(t, string(b), "password")
	status, _, _ := post(t, c, h.hub.URL+"/hub/login", url.Values{"username": {"a"}, "password": {"b"}})
	require.Equal(t, http.StatusNotFound, status)
	status, _, _ = post(t, c, h.hub.URL+"/hub/signup", url.Values{"username": {"a"}})
	require.Equal(t, http.StatusNotFound, status)
}

func TestNativeLogin(t *testing.T) {
	h := newAccountsHub(t, account.Options{Native: true})
	ctx := context.Background()
	_, err := h.acc.CreateAccount(ctx, "alice", alicePassword, "", false)
	require.NoError(t, err)
	c := h.client()

	// The form's token is bound to the browser's cookie: none, or another
	// browser's, is refused.
	status, _, _ := post(t, c, h.hub.URL+"/hub/login", url.Values{"username": {"alice"}, "password": {alicePassword}})
	require.Equal(t, http.StatusForbidden, status)
	other := h.client()
	status, _, _ = post(t, other, h.hub.URL+"/hub/login", url.Values{"username": {"alice"}, "password": {alicePassword},
		"_csrf": {h.form(c, "/hub/login")}})
	require.Equal(t, http.StatusForbidden, status)

	// Wrong password and unknown user read the same; the log says who and
	// from where, never the password.
	status, body, _ := h.loginAs(c, "alice", "wrong-password-123")
	require.Equal(t, http.StatusUnauthorized, status)
	require.Contains(t, body, "Invalid username or password.")
	status, body2, _ := h.loginAs(c, "mallory", "wrong-password-123")
	require.Equal(t, http.StatusUnauthorized, status)
	require.Contains(t, body2, "Invalid username or password.")
	logs := h.logs.String()
	require.Contains(t, logs, `level=WARN msg="failed login" method=native user=alice remote_addr=127.0.0.1`)
	require.Contains(t, logs, "user=mallory")
	require.NotContains(t, logs, "wrong-password-123")

	status, _, resp := h.submit(c, "/hub/login?next=%2Fhub%2Fhome%3Fx%3D1", "/hub/login",
		url.Values{"username": {"alice"}, "password": {alicePassword}, "next": {"/hub/home?x=1"}})
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/hub/home?x=1", resp.Header.Get("Location"))
	ck := sessionCookie(resp)
	require.NotNil(t, ck)
	require.True(t, ck.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, ck.SameSite)
	require.InDelta(t, 12*3600, ck.MaxAge, 5, "the cookie expires with the session")
	require.NotContains(t, h.logs.String(), alicePassword)

	resp, err = c.Get(h.hub.URL + "/hub/home")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// An open redirect through next is not possible.
	_, _, resp = h.submit(h.client(), "/hub/login", "/hub/login",
		url.Values{"username": {"alice"}, "password": {alicePassword}, "next": {"//evil.example/"}})
	require.Equal(t, "/hub/home", resp.Header.Get("Location"))
}

// Logging out ends the session and revokes the OAuth tokens notebook
// servers were given for it.
func TestLogoutRevokesServerTokens(t *testing.T) {
	h := newAccountsHub(t, account.Options{Native: true})
	ctx := context.Background()
	a, err := h.acc.CreateAccount(ctx, "alice", alicePassword, "", false)
	require.NoError(t, err)
	c := h.client()
	_, _, resp := h.loginAs(c, "alice", alicePassword)
	require.NotNil(t, sessionCookie(resp))
	var sess store.Session
	require.NoError(t, h.db.Where("user_id = ?", a.UserID).First(&sess).Error)
	authn := auth.New(h.db, nil, nil)
	tok, err := authn.IssueToken(ctx, nil, store.Token{Kind: store.TokenOAuth, UserID: a.UserID, SessionID: sess.ID})
	require.NoError(t, err)
	_, _, err = authn.Lookup(ctx, tok)
	require.NoError(t, err)

	// Following the link only asks; a post without the form's token (from
	// another site) is refused; the form logs out.
	resp, err = c.Get(h.hub.URL + "/hub/logout")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(b), "Log out of Labhub?")
	_, _, err = authn.Lookup(ctx, tok)
	require.NoError(t, err, "a GET does not log out")
	resp, err = c.PostForm(h.hub.URL+"/hub/logout", url.Values{})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	_, _, err = authn.Lookup(ctx, tok)
	require.NoError(t, err, "a post without the CSRF token does not log out")
	resp, err = c.PostForm(h.hub.URL+"/hub/logout", url.Values{"_csrf": {string(csrfField.FindSubmatch(b)[1])}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, _, err = authn.Lookup(ctx, tok)
	require.ErrorIs(t, err, auth.ErrInvalidToken)
	resp, err = c.Get(h.hub.URL + "/hub/home")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode, "logged out")
}

// Over HTTPS the session cookie is Secure as well.
func TestSecureSessionCookie(t *testing.T) {
	h := newAccountsHub(t, account.Options{Native: true}, func(o *web.Options) { o.PublicURL = "https://labhub.example/" })
	_, err := h.acc.CreateAccount(context.Background(), "alice", alicePassword, "", false)
	require.NoError(t, err)
	c := h.client()
	// The client talks plain HTTP to the test server; Secure cookies it
	// would not send back, so carry the CSRF cookie by hand.
	resp, err := c.Get(h.hub.URL + "/hub/login")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var csrfCookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "labhub-login-csrf" {
			csrfCookie = ck
		}
	}
	require.NotNil(t, csrfCookie)
	require.True(t, csrfCookie.Secure)
	form := url.Values{"username": {"alice"}, "password": {alicePassword}, "_csrf": {string(csrfField.FindSubmatch(b)[1])}}
	req, _ := http.NewRequest("POST", h.hub.URL+"/hub/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: csrfCookie.Name, Value: csrfCookie.Value})
	resp, err = c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	ck := sessionCookie(resp)
	require.NotNil(t, ck, "status %d", resp.StatusCode)
	require.True(t, ck.Secure)
	require.True(t, ck.HttpOnly)
	require.Equal(t, http.SameSiteNoneMode, ck.SameSite, "over HTTPS the cookie works inside LMS iframes")
}

func TestApprovalPage(t *testing.T) {
	h := newAccountsHub(t, account.Options{Native: true})
	ctx := context.Background()
	_, err := h.acc.CreateAccount(ctx, "admin", adminPassword, "", true)
	require.NoError(t, err)
	_, err = h.acc.SignUp(ctx, account.SignupInput{Username: "alice", Password: alicePassword, Confirm: alicePassword}, "")
	require.NoError(t, err)
	_, err = h.acc.CreateAccount(ctx, "bob", adminPassword, "", false)
	require.NoError(t, err)

	// A student gets the same 404 as for a page that does not exist.
	bob := h.client()
	h.loginAs(bob, "bob", adminPassword)
	resp, err := bob.Get(h.hub.URL + "/hub/admin/accounts")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	status, _, _ := post(t, bob, h.hub.URL+"/hub/admin/accounts/alice/approve", url.Values{})
	require.Equal(t, http.StatusNotFound, status)

	admin := h.client()
	h.loginAs(admin, "admin", adminPassword)
	// A GET never approves; a POST without the session's token neither.
	resp, err = admin.Get(h.hub.URL + "/hub/admin/accounts/alice/approve")
	require.NoError(t, err)
	resp.Body.Close()
	require.NotEqual(t, http.StatusOK, resp.StatusCode)
	status, _, _ = post(t, admin, h.hub.URL+"/hub/admin/accounts/alice/approve", url.Values{})
	require.Equal(t, http.StatusForbidden, status)
	a, _ := h.acc.List(ctx)
	require.False(t, a[0].Approved)

	status, body, _ := h.submit(admin, "/hub/admin/accounts", "/hub/admin/accounts/alice/approve", url.Values{})
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "alice can log in now.")
	status, _, _ = h.loginAs(h.client(), "alice", alicePassword)
	require.Equal(t, http.StatusSeeOther, status)

	// Reset by an administrator: policy applies, sessions end.
	status, body, _ = h.submit(admin, "/hub/admin/accounts", "/hub/admin/accounts/bob/password",
		url.Values{"password": {"short"}, "password_confirmation": {"short"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "too short")
	const fresh = "cobalt-meadow-violin"
	status, _, _ = h.submit(admin, "/hub/admin/accounts", "/hub/admin/accounts/bob/password",
		url.Values{"password": {fresh}, "password_confirmation": {fresh}})
	require.Equal(t, http.StatusOK, status)
	resp, err = bob.Get(h.hub.URL + "/hub/home")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode, "the reset ended bob's session")
	status, _, _ = h.loginAs(h.client(), "bob", fresh)
	require.Equal(t, http.StatusSeeOther, status)
	var audited []store.AuditEntry
	require.NoError(t, h.db.Where("action LIKE ?", "account.%").Order("id").Find(&audited).Error)
	require.Len(t, audited, 2, "the refused reset is not recorded")
	require.Equal(t, [2]string{"account.approve", "alice"}, [2]string{audited[0].Action, audited[0].Subject})
	require.Equal(t, [2]string{"account.password", "bob"}, [2]string{audited[1].Action, audited[1].Subject})
	require.Equal(t, "admin", audited[1].Actor)

	resp, err = admin.Get(h.hub.URL + "/hub/authorize")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "/hub/admin/accounts", resp.Header.Get("Location"), "NativeAuthenticator's address still works")
}

func TestSignupAndChangePassword(t *testing.T) {
	h := newAccountsHub(t, account.Options{Native: true, Signup: account.SignupOpen})
	c := h.client()
	status, body, _ := h.submit(c, "/hub/signup", "/hub/signup", url.Values{"username": {"alice"}, "email": {"alice@example.org"},
		"password": {"password1234"}, "password_confirmation": {"password1234"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "common passwords")
	require.Contains(t, body, `value="alice@example.org"`, "the form keeps what was typed")
	status, body, _ = h.submit(c, "/hub/signup", "/hub/signup", url.Values{"username": {"alice"},
		"password": {alicePassword}, "password_confirmation": {alicePassword}})
	require.Equal(t, http.StatusCreated, status)
	require.Contains(t, body, "You can log in now")

	h.loginAs(c, "alice", alicePassword)
	const next = "cobalt-meadow-violin"
	status, body, _ = h.submit(c, "/hub/change-password", "/hub/change-password",
		url.Values{"old_password": {"nope"}, "password": {next}, "password_confirmation": {next}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "current password is not right")
	status, _, _ = h.submit(c, "/hub/change-password", "/hub/change-password",
		url.Values{"old_password": {alicePassword}, "password": {next}, "password_confirmation": {next}})
	require.Equal(t, http.StatusOK, status)
	status, _, _ = h.loginAs(h.client(), "alice", next)
	require.Equal(t, http.StatusSeeOther, status)

	// Sign-up closed: the page says so.
	closed := newAccountsHub(t, account.Options{Native: true, Signup: account.SignupOff})
	resp, err := closed.client().Get(closed.hub.URL + "/hub/signup")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// A blocked name is refused at an LTI launch too, and a session it had
// is no longer honoured.
func TestBlockedUserLaunch(t *testing.T) {
	h := newAccountsHub(t, account.Options{Native: true, Policy: &account.Policy{Blocked: account.ParseNames("root, student1")}})
	action, form := h.signed11(nil)
	status, body, _ := post(t, h.client(), action, form)
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body, "blocked_user")
	require.Zero(t, h.docker.Calls(), "nothing starts for a blocked user")
	for _, table := range []string{"users", "identities", "courses", "enrollments"} {
		var n int64
		require.NoError(t, h.db.Table(table).Count(&n).Error)
		require.Zero(t, n, "a refused launch writes no %s", table)
	}
	// The same name from another platform is refused too, not let in as
	// student1-2.
	resp, err := h.browser().LaunchLTI13(context.Background(), learner, crs, link, h.clientID)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, string(b), "blocked_user")
	var users int64
	require.NoError(t, h.db.Model(&store.User{}).Count(&users).Error)
	require.Zero(t, users)

	home := func(name string) int {
		u := store.User{Name: name}
		require.NoError(t, h.db.Where(store.User{Name: name}).FirstOrCreate(&u).Error)
		cookie, _, err := auth.New(h.db, h.seal.Derive("cookie", 32), nil).NewSession(context.Background(), nil, u.ID, "lti11")
		require.NoError(t, err)
		req, _ := http.NewRequest("GET", h.hub.URL+"/hub/home", nil)
		req.AddCookie(&http.Cookie{Name: auth.SessionCookie, Value: cookie})
		resp, err := h.client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, home("student2"))
	require.Equal(t, http.StatusForbidden, home("student1"), "a blocked user's session is not honoured")
}

// An LDAP login through the form, against a real slapd.
func TestLDAPLoginForm(t *testing.T) {
	srv := testutil.StartSlapd(t)
	dir, err := ldapauth.New(ldapauth.Config{Address: srv.Host, Port: srv.TLSPort, TLS: ldapauth.TLSLDAPS, CAFile: srv.CAFile,
		BindDNTemplates: []string{"uid={username},ou=people," + testutil.SlapdBase}})
	require.NoError(t, err)
	h := newAccountsHub(t, account.Options{LDAP: dir})
	c := h.client()
	resp, err := c.Get(h.hub.URL + "/hub/login")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(b), "institution account")
	require.NotContains(t, string(b), "Sign up", "no native accounts, no sign-up")

	status, body, _ := h.submit(c, "/hub/login", "/hub/login", url.Values{"username": {"bob"}, "password": {"wrong"}, "method": {"ldap"}})
	require.Equal(t, http.StatusUnauthorized, status)
	require.Contains(t, body, "Invalid username or password.")
	status, _, resp = h.submit(c, "/hub/login", "/hub/login", url.Values{"username": {"bob"}, "password": {testutil.SlapdBobPass}, "method": {"ldap"}})
	require.Equal(t, http.StatusSeeOther, status)
	require.NotNil(t, sessionCookie(resp))
	require.NotContains(t, h.logs.String(), testutil.SlapdBobPass)
	require.Contains(t, h.logs.String(), `msg="logged in" method=ldap user=bob`)
}

// A lock on the client address says so: resetting a password does not
// lift it, so the message does not send people to an administrator.
func TestAddressLockoutMessage(t *testing.T) {
	h := newAccountsHub(t, account.Options{Native: true})
	_, err := h.acc.CreateAccount(context.Background(), "alice", alicePassword, "", false)
	require.NoError(t, err)
	c := h.client()
	for i := range 20 {
		h.loginAs(c, fmt.Sprintf("nobody%d", i), "wrong password")
	}
	status, body, _ := h.loginAs(c, "alice", alicePassword)
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Contains(t, body, "Too many failed logins from your network")
	require.NotContains(t, body, "administrator")
}
