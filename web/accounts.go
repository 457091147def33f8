package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/account"
	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/store"
)

// Cookies of the fallback logins. Both live under <base>hub/, so the proxy
// never forwards them to a notebook server.
const (
	// loginCSRFCookie holds the random value the login and sign-up forms'
	// CSRF token is derived from, before there is a session.
	loginCSRFCookie = "labhub-login-csrf"
	// secondFactorCookie remembers, for five minutes, that a password was
	// right and a TOTP code is still needed.
	secondFactorCookie = "labhub-login-2fa"
	secondFactorTTL    = 5 * time.Minute
)

// accountRoutes adds the pages of native accounts and LDAP logins.
func (s *Server) accountRoutes(g *gin.RouterGroup) {
	g.POST("/hub/login", s.loginPost)
	g.GET("/hub/login/totp", s.totpLoginPage)
	g.POST("/hub/login/totp", s.totpLoginPost)
	g.GET("/hub/signup", s.signupPage)
	g.POST("/hub/signup", s.signupPost)
	g.GET("/hub/change-password", s.passwordPage)
	g.POST("/hub/change-password", s.passwordPost)
	g.GET("/hub/totp", s.totpPage)
	g.POST("/hub/totp/begin", s.totpBegin)
	g.POST("/hub/totp/confirm", s.totpConfirm)
	g.POST("/hub/totp/disable", s.totpDisable)
	g.GET("/hub/admin/accounts", s.accountsPage)
	g.POST("/hub/admin/accounts/:name/:action", s.accountsPost)
	// NativeAuthenticator's address of the approval page.
	g.GET("/hub/authorize", func(c *gin.Context) { c.Redirect(http.StatusFound, s.base+"hub/admin/accounts") })
}

func (s *Server) fallback() bool { return s.Accounts != nil && s.Accounts.Fallback() }

// hasNativeAccount reports whether u logs in with a Labhub password, so
// the home page links to the password and TOTP pages.
func (s *Server) hasNativeAccount(c *gin.Context, u *store.User) bool {
	if !s.fallback() || !s.Accounts.Native() {
		return false
	}
	_, err := s.Accounts.AccountOf(c.Request.Context(), u.ID)
	return err == nil
}

// blocked reports whether u may not be logged in by any method.
func (s *Server) blocked(u *store.User) bool {
	return s.Accounts != nil && s.Accounts.Blocked(u.Name)
}

// startSession logs u in with a new session, whose cookie expires with it.
// A cookie the browser had is replaced; its session is left alone, so
// notebook tabs opened with it keep working until it expires.
func (s *Server) startSession(c *gin.Context, u *store.User, method string) bool {
	cookie, sess, err := s.Auth.NewSession(c.Request.Context(), nil, u.ID, method)
	if err != nil {
		s.internalError(c, "create session", err)
		return false
	}
	s.setCookie(c, auth.SessionCookie, cookie, s.base, int(time.Until(sess.ExpiresAt).Seconds()))
	return true
}

// loginCSRF returns the CSRF token of the login and sign-up forms, setting
// the cookie it is derived from when the browser has none.
func (s *Server) loginCSRF(c *gin.Context) string {
	v := ""
	if ck, err := c.Request.Cookie(loginCSRFCookie); err == nil && len(ck.Value) == 64 {
		v = ck.Value
	} else {
		v = auth.NewSecret()
		s.setCookie(c, loginCSRFCookie, v, s.base+"hub/", 0)
	}
	return s.sign("login-csrf", v)
}

func (s *Server) checkLoginCSRF(c *gin.Context) bool {
	ck, err := c.Request.Cookie(loginCSRFCookie)
	got := c.PostForm("_csrf")
	return err == nil && got != "" && hmac.Equal([]byte(got), []byte(s.sign("login-csrf", ck.Value)))
}

func (s *Server) sign(purpose, v string) string {
	m := hmac.New(sha256.New, s.CookieKey)
	m.Write([]byte(purpose + "\x00" + v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// expiredForm refuses a form posted without the session's CSRF token.
func (s *Server) expiredForm(c *gin.Context) {
	s.fail(c, problem{Status: http.StatusForbidden, Heading: "Request refused",
		Message: "This form has expired. Go back, reload the page and try again.", Code: "bad_csrf"})
}

// loginPage is what login.html shows.
type loginPage struct {
	page
	CSRF, Next, Username, Error, Notice string
	Native, LDAP, Signup                bool
}

// fallbackLogin shows the login forms when fallback logins are on and
// reports whether it did.
func (s *Server) fallbackLogin(c *gin.Context) bool {
	if !s.fallback() {
		return false
	}
	s.renderLogin(c, http.StatusOK, loginPage{})
	return true
}

func (s *Server) renderLogin(c *gin.Context, status int, p loginPage) {
	p.Title, p.Base = "Log in", s.base
	p.CSRF = s.loginCSRF(c)
	p.Native, p.LDAP, p.Signup = s.Accounts.Native(), s.Accounts.LDAP(), s.Accounts.SignupOpen()
	if p.Next == "" {
		p.Next = c.Query("next")
	}
	s.render(c, status, "login.html", p)
}

// loginPost checks a native or LDAP login.
func (s *Server) loginPost(c *gin.Context) {
	if !s.fallback() {
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "Page not found", Message: "There is nothing at this address.", Code: "not_found"})
		return
	}
	if !s.loginForm(c) {
		return
	}
	ctx, addr := c.Request.Context(), s.clientIP(c.Request)
	username, password, next := c.PostForm("username"), c.PostForm("password"), c.PostForm("next")
	method := c.PostForm("method")
	if method == "" && !s.Accounts.Native() {
		method = store.ProviderLDAP
	}
	var l *account.Login
	var err error
	if method == store.ProviderLDAP {
		l, err = s.Accounts.LoginLDAP(ctx, username, password, addr)
	} else {
		l, err = s.Accounts.LoginNative(ctx, username, password, addr)
	}
	if err != nil {
		s.loginFailed(c, err, loginPage{Username: username, Next: next})
		return
	}
	if l.NeedTOTP {
		exp := time.Now().Add(secondFactorTTL).Unix()
		v := fmt.Sprintf("%d.%d.%d", l.User.ID, l.Account.ID, exp)
		s.setCookie(c, secondFactorCookie, v+"."+s.sign("login-2fa", v), s.base+"hub/", int(secondFactorTTL.Seconds()))
		c.Redirect(http.StatusSeeOther, s.base+"hub/login/totp?next="+url.QueryEscape(next))
		return
	}
	if !s.startSession(c, &l.User, l.Method) {
		return
	}
	c.Redirect(http.StatusSeeOther, s.localNext(next))
}

// lockWait sets the Retry-After header of an answer to a locked account or
// address and returns the wait in whole minutes.
func lockWait(c *gin.Context, le *account.LockedError) int {
	wait := max(1, int(math.Ceil(time.Until(le.Until).Minutes())))
	c.Header("Retry-After", strconv.Itoa(wait*60))
	return wait
}

// loginFailed renders the login form again with a message: the generic one
// for every failure except a lockout, a pending approval and an outage.
func (s *Server) loginFailed(c *gin.Context, err error, p loginPage) {
	var le *account.LockedError
	status := http.StatusUnauthorized
	switch {
	case errors.As(err, &le):
		wait := lockWait(c, le)
		status = http.StatusTooManyRequests
		p.Error = fmt.Sprintf("Too many failed logins. Wait %d minute(s) and try again; an administrator can also reset your password.", wait)
		if le.Address {
			// A reset does not lift a limit on the address, which a whole
			// campus behind one NAT may share.
			p.Error = fmt.Sprintf("Too many failed logins from your network. Wait %d minute(s) and try again.", wait)
		}
	case errors.Is(err, account.ErrNotApproved):
		status = http.StatusForbidden
		p.Error = "Your account is waiting for an administrator's approval. You can log in once it is approved."
	case errors.Is(err, account.ErrDirectoryDown):
		status = http.StatusServiceUnavailable
		p.Error = "The directory server that checks your password could not be reached. Try again in a few minutes."
	case errors.Is(err, account.ErrBadCredentials):
		p.Error = "Invalid username or password."
	default:
		s.internalError(c, "log in", err)
		return
	}
	s.renderLogin(c, status, p)
}

// pendingSecondFactor reads the cookie a right password left.
func (s *Server) pendingSecondFactor(c *gin.Context) (*account.Login, bool) {
	ck, err := c.Request.Cookie(secondFactorCookie)
	if err != nil {
		return nil, false
	}
	i := strings.LastIndexByte(ck.Value, '.')
	if i < 0 || !hmac.Equal([]byte(ck.Value[i+1:]), []byte(s.sign("login-2fa", ck.Value[:i]))) {
		return nil, false
	}
	var uid, aid uint
	var exp int64
	if _, err := fmt.Sscanf(ck.Value[:i], "%d.%d.%d", &uid, &aid, &exp); err != nil || time.Now().Unix() > exp {
		return nil, false
	}
	a, err := s.Accounts.AccountOf(c.Request.Context(), uid)
	if err != nil || a.ID != aid {
		return nil, false
	}
	var u store.User
	if err := s.DB.WithContext(c.Request.Context()).First(&u, uid).Error; err != nil {
		return nil, false
	}
	return &account.Login{User: u, Method: store.ProviderNative, Account: a, NeedTOTP: true}, true
}

func (s *Server) totpLoginPage(c *gin.Context) {
	if _, ok := s.pendingSecondFactor(c); !ok || !s.fallback() {
		c.Redirect(http.StatusFound, s.base+"hub/login")
		return
	}
	s.render(c, http.StatusOK, "totp_login.html", map[string]any{"Title": "Authentication code", "Base": s.base,
		"CSRF": s.loginCSRF(c), "Next": c.Query("next")})
}

func (s *Server) totpLoginPost(c *gin.Context) {
	if !s.fallback() {
		c.Redirect(http.StatusFound, s.base+"hub/login")
		return
	}
	if !s.loginForm(c) {
		return
	}
	l, ok := s.pendingSecondFactor(c)
	if !ok {
		s.renderLogin(c, http.StatusUnauthorized, loginPage{Error: "The login took too long. Enter your username and password again."})
		return
	}
	next := c.PostForm("next")
	if err := s.Accounts.VerifySecondFactor(c.Request.Context(), l, c.PostForm("code"), s.clientIP(c.Request)); err != nil {
		var le *account.LockedError
		if errors.As(err, &le) {
			s.setCookie(c, secondFactorCookie, "", s.base+"hub/", -1)
			s.loginFailed(c, err, loginPage{Next: next})
			return
		}
		if !errors.Is(err, account.ErrBadCredentials) {
			s.internalError(c, "check second factor", err)
			return
		}
		s.render(c, http.StatusUnauthorized, "totp_login.html", map[string]any{"Title": "Authentication code", "Base": s.base,
			"CSRF": s.loginCSRF(c), "Next": next, "Error": "That code is not right. Enter the code your app shows now, or a recovery code."})
		return
	}
	s.setCookie(c, secondFactorCookie, "", s.base+"hub/", -1)
	if !s.startSession(c, &l.User, l.Method) {
		return
	}
	c.Redirect(http.StatusSeeOther, s.localNext(next))
}

func (s *Server) signupPage(c *gin.Context) {
	if !s.fallback() || !s.Accounts.SignupOpen() {
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "Sign-up is closed",
			Message: "Labhub accounts cannot be created here. Open Labhub from your course, or ask an administrator.", Code: "signup_closed"})
		return
	}
	s.render(c, http.StatusOK, "signup.html", map[string]any{"Title": "Sign up", "Base": s.base, "CSRF": s.loginCSRF(c)})
}

func (s *Server) signupPost(c *gin.Context) {
	if !s.fallback() || !s.Accounts.SignupOpen() {
		s.signupPage(c)
		return
	}
	if !s.loginForm(c) {
		return
	}
	in := account.SignupInput{Username: c.PostForm("username"), Password: c.PostForm("password"),
		Confirm: c.PostForm("password_confirmation"), Email: c.PostForm("email")}
	a, err := s.Accounts.SignUp(c.Request.Context(), in, s.clientIP(c.Request))
	var fe *account.FormError
	var le *account.LockedError
	switch {
	case errors.As(err, &fe):
		s.render(c, http.StatusBadRequest, "signup.html", map[string]any{"Title": "Sign up", "Base": s.base,
			"CSRF": s.loginCSRF(c), "Error": fe.Message, "Username": in.Username, "Email": in.Email})
		return
	case errors.As(err, &le):
		wait := lockWait(c, le)
		s.render(c, http.StatusTooManyRequests, "signup.html", map[string]any{"Title": "Sign up", "Base": s.base,
			"CSRF": s.loginCSRF(c), "Username": in.Username, "Email": in.Email,
			"Error": fmt.Sprintf("Too many sign-ups and logins from your address. Wait %d minute(s) and try again.", wait)})
		return
	}
	if err != nil {
		s.internalError(c, "sign up", err)
		return
	}
	msg := "Your account " + a.Username + " is ready. You can log in now."
	if !a.Approved {
		msg = "Your account " + a.Username + " was created. An administrator must approve it before you can log in; try again later."
	}
	s.render(c, http.StatusCreated, "message.html", map[string]any{"Title": "Signed up", "Base": s.base,
		"Heading": "Account created", "Message": msg, "Link": s.base + "hub/login", "LinkText": "Go to the login page"})
}

// nativeAccount loads the logged-in user's native account; users without
// one get a 404.
func (s *Server) nativeAccount(c *gin.Context) (*store.Session, *store.User, *store.NativeAccount, bool) {
	if !s.fallback() || !s.Accounts.Native() {
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "Page not found", Message: "There is nothing at this address.", Code: "not_found"})
		return nil, nil, nil, false
	}
	sess, u, ok := s.requireLogin(c)
	if !ok {
		return nil, nil, nil, false
	}
	a, err := s.Accounts.AccountOf(c.Request.Context(), u.ID)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "No Labhub password",
			Message: "You log in through your LMS or your institution's directory, so there is no Labhub password to manage here.", Code: "no_account"})
		return nil, nil, nil, false
	}
	if err != nil {
		s.internalError(c, "load account", err)
		return nil, nil, nil, false
	}
	return sess, u, a, true
}

func (s *Server) passwordPage(c *gin.Context) {
	sess, u, _, ok := s.nativeAccount(c)
	if !ok {
		return
	}
	s.render(c, http.StatusOK, "password.html", map[string]any{"Title": "Change password", "Base": s.base, "User": u.Name,
		"CSRF": s.csrfToken(sess)})
}

func (s *Server) passwordPost(c *gin.Context) {
	sess, u, _, ok := s.nativeAccount(c)
	if !ok {
		return
	}
	if !s.csrfForm(c, sess) {
		return
	}
	ctx := c.Request.Context()
	err := s.Accounts.ChangePassword(ctx, u.ID, c.PostForm("old_password"), c.PostForm("password"), c.PostForm("password_confirmation"))
	var fe *account.FormError
	if errors.As(err, &fe) {
		s.render(c, http.StatusBadRequest, "password.html", map[string]any{"Title": "Change password", "Base": s.base,
			"User": u.Name, "CSRF": s.csrfToken(sess), "Error": fe.Message})
		return
	}
	if err == nil {
		// Whoever knew the old password is logged out everywhere else.
		err = s.Auth.EndUserSessions(ctx, u.ID, sess.ID)
	}
	if err != nil {
		s.internalError(c, "change password", err)
		return
	}
	s.logger(c).Info("changed password", "user", u.Name)
	s.render(c, http.StatusOK, "message.html", map[string]any{"Title": "Password changed", "Base": s.base, "User": u.Name,
		"Heading": "Password changed", "Message": "Your password is changed. Other browsers logged in as you were logged out.",
		"Link": s.base + "hub/home", "LinkText": "Back to your servers"})
}

// totpView is what totp.html shows.
type totpView struct {
	page
	CSRF       string
	Enabled    bool
	CodesLeft  int
	Enrollment *account.Enrollment
	Codes      []string
	Error      string
}

func (s *Server) renderTOTP(c *gin.Context, status int, sess *store.Session, u *store.User, a *store.NativeAccount, v totpView) {
	v.Title, v.Base, v.User, v.CSRF = "Two-factor authentication", s.base, u.Name, s.csrfToken(sess)
	v.Enabled = v.Codes == nil && a.TOTPSealed != nil
	v.CodesLeft = account.RecoveryCodesLeft(a)
	s.render(c, status, "totp.html", v)
}

func (s *Server) totpPage(c *gin.Context) {
	sess, u, a, ok := s.nativeAccount(c)
	if !ok {
		return
	}
	s.renderTOTP(c, http.StatusOK, sess, u, a, totpView{})
}

// totpForm checks the CSRF token of a TOTP form and loads the account.
func (s *Server) totpForm(c *gin.Context) (*store.Session, *store.User, *store.NativeAccount, bool) {
	sess, u, a, ok := s.nativeAccount(c)
	if !ok {
		return nil, nil, nil, false
	}
	if !s.csrfForm(c, sess) {
		return nil, nil, nil, false
	}
	return sess, u, a, true
}

func (s *Server) totpBegin(c *gin.Context) {
	sess, u, a, ok := s.totpForm(c)
	if !ok {
		return
	}
	if a.TOTPSealed != nil {
		c.Redirect(http.StatusSeeOther, s.base+"hub/totp")
		return
	}
	enr, err := s.Accounts.BeginTOTP(c.Request.Context(), a)
	if err != nil {
		s.internalError(c, "begin totp", err)
		return
	}
	s.renderTOTP(c, http.StatusOK, sess, u, a, totpView{Enrollment: enr})
}

func (s *Server) totpConfirm(c *gin.Context) {
	sess, u, a, ok := s.totpForm(c)
	if !ok {
		return
	}
	codes, err := s.Accounts.ConfirmTOTP(c.Request.Context(), a, c.PostForm("code"))
	var fe *account.FormError
	if errors.As(err, &fe) {
		// A fresh secret: the person scans again rather than guessing on.
		enr, err := s.Accounts.BeginTOTP(c.Request.Context(), a)
		if err != nil {
			s.internalError(c, "begin totp", err)
			return
		}
		s.renderTOTP(c, http.StatusBadRequest, sess, u, a, totpView{Enrollment: enr, Error: fe.Message + " Scan this new code and try again."})
		return
	}
	if err != nil {
		s.internalError(c, "confirm totp", err)
		return
	}
	s.renderTOTP(c, http.StatusOK, sess, u, a, totpView{Codes: codes})
}

func (s *Server) totpDisable(c *gin.Context) {
	sess, u, a, ok := s.totpForm(c)
	if !ok {
		return
	}
	err := s.Accounts.DisableTOTP(c.Request.Context(), a, c.PostForm("password"))
	var fe *account.FormError
	if errors.As(err, &fe) {
		s.renderTOTP(c, http.StatusBadRequest, sess, u, a, totpView{Error: fe.Message})
		return
	}
	if err != nil {
		s.internalError(c, "disable totp", err)
		return
	}
	c.Redirect(http.StatusSeeOther, s.base+"hub/totp")
}

func (s *Server) accountsPage(c *gin.Context) {
	s.renderAccounts(c, http.StatusOK, "", "")
}

func (s *Server) renderAccounts(c *gin.Context, status int, notice, errMsg string) {
	sess, u, ok := s.requireAdmin(c)
	if !ok {
		return
	}
	if !s.fallback() || !s.Accounts.Native() {
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "Native accounts are off",
			Message: "Labhub accounts are not enabled (--auth-mode native).", Code: "not_found"})
		return
	}
	list, err := s.Accounts.List(c.Request.Context())
	if err != nil {
		s.internalError(c, "list accounts", err)
		return
	}
	s.render(c, status, "accounts.html", map[string]any{"Title": "Accounts", "Base": s.base, "User": u.Name,
		"CSRF": s.csrfToken(sess), "Accounts": list, "Notice": notice, "Error": errMsg})
}

// accountsPost approves, discards or resets the password of an account;
// administrators only, with the session's CSRF token.
func (s *Server) accountsPost(c *gin.Context) {
	sess, admin, ok := s.requireAdmin(c)
	if !ok {
		return
	}
	if !s.fallback() || !s.Accounts.Native() {
		s.renderAccounts(c, http.StatusNotFound, "", "")
		return
	}
	if !s.csrfForm(c, sess) {
		return
	}
	ctx, name, log := c.Request.Context(), c.Param("name"), s.logger(c)
	var notice string
	var err error
	switch c.Param("action") {
	case "approve":
		_, err = s.Accounts.Approve(ctx, name)
		notice = name + " can log in now."
	case "discard":
		err = s.Accounts.Discard(ctx, name)
		notice = name + "'s sign-up was discarded."
	case "password":
		err = s.Accounts.ResetPassword(ctx, name, c.PostForm("password"), c.PostForm("password_confirmation"))
		if err == nil {
			var a *store.NativeAccount
			if a, err = s.findAccount(c, name); err == nil {
				err = s.Auth.EndUserSessions(ctx, a.UserID, "")
			}
		}
		notice = name + "'s password was reset and their lock lifted; their sessions were ended."
	default:
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "Page not found", Message: "There is nothing at this address.", Code: "not_found"})
		return
	}
	var fe *account.FormError
	switch {
	case errors.As(err, &fe):
		s.renderAccounts(c, http.StatusBadRequest, "", name+": "+fe.Message)
		return
	case errors.Is(err, store.ErrNotFound):
		s.renderAccounts(c, http.StatusNotFound, "", "There is no account "+name+".")
		return
	case err != nil:
		s.internalError(c, "manage account", err)
		return
	}
	log.Info("managed account", "admin", admin.Name, "user", name, "action", c.Param("action"))
	s.Manager.Audit(ctx, *admin, "account."+c.Param("action"), nil, account.Normalize(name), "")
	s.renderAccounts(c, http.StatusOK, notice, "")
}

func (s *Server) findAccount(c *gin.Context, name string) (*store.NativeAccount, error) {
	var a store.NativeAccount
	if err := s.DB.WithContext(c.Request.Context()).Where("username = ?", account.Normalize(name)).First(&a).Error; err != nil {
		return nil, fmt.Errorf("load account: %w", err)
	}
	return &a, nil
}
