package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/account"
	"github.com/labhub/labhub/internal/testutil"
)

// browser drives one headless Chromium through the hub's pages.
type browser struct {
	t   *testing.T
	ctx context.Context
	hub string
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, actions...))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(b.t, err)
	return v
}

func (b *browser) location() string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Location())
	require.NoError(b.t, err)
	return v
}

// submit clicks a form's button and waits until the answer has replaced
// the page: a mark left on the old document is gone and the new one has
// loaded.
func (b *browser) submit(button string) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool]("window.__labhubOld = true"))
	require.NoError(b.t, err)
	b.do(chromedp.Click(chromedp.CSS(button)))
	require.Eventually(b.t, func() bool {
		done, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](
			`window.__labhubOld === undefined && document.readyState === "complete"`))
		return err == nil && done
	}, 20*time.Second, 20*time.Millisecond, "no page after clicking %s", button)
}

// login fills the native login form and submits it.
func (b *browser) login(name, password string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.hub+"/hub/login"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), password))
	b.submit("#login")
}

func (b *browser) logout() {
	b.t.Helper()
	b.do(chromedp.Navigate(b.hub+"/hub/logout"), chromedp.WaitVisible(`//h1[contains(., "Log out of Labhub?")]`))
	b.submit("form button")
	b.do(chromedp.WaitVisible(`//h1[contains(., "logged out")]`))
}

// The native account flows as a person goes through them in a browser:
// sign up, wait for approval, an administrator approves, log in, turn on
// TOTP, log in with it, and get locked out after too many wrong passwords.
func TestNativeAccountsInChromium(t *testing.T) {
	h := newAccountsHub(t, account.Options{Native: true, Signup: account.SignupApproval})
	_, err := h.acc.CreateAccount(context.Background(), "admin", adminPassword, "", true)
	require.NoError(t, err)
	b := &browser{t: t, ctx: testutil.Chrome(t), hub: h.hub.URL}

	// Sign up.
	b.do(chromedp.Navigate(b.hub+"/hub/login"),
		chromedp.WaitVisible(chromedp.CSS("#signup-link")),
		chromedp.Click(chromedp.CSS("#signup-link")),
		chromedp.WaitVisible(chromedp.CSS("#signup")),
		chromedp.SendKeys(chromedp.CSS("#username"), "Alice"),
		chromedp.SendKeys(chromedp.CSS("#email"), "alice@example.org"),
		chromedp.SendKeys(chromedp.CSS("#password"), alicePassword),
		chromedp.SendKeys(chromedp.CSS("#password2"), alicePassword),
		chromedp.Click(chromedp.CSS("#create")),
		chromedp.WaitVisible(`//h1[contains(., "Account created")]`))
	require.Contains(t, b.text("main"), "An administrator must approve it")

	// Before approval the right password says why it cannot log in yet.
	b.login("alice", alicePassword)
	require.Contains(t, b.text("#error"), "waiting for an administrator's approval")

	// The administrator approves.
	b.login("admin", adminPassword)
	b.do(chromedp.Click(chromedp.CSS("#accounts-link")),
		chromedp.WaitVisible(chromedp.CSS("#account-alice")))
	require.Contains(t, b.text("#account-alice"), "awaiting approval")
	require.Contains(t, b.text("#account-alice"), "alice@example.org")
	b.do(chromedp.Click(chromedp.CSS("#account-alice button.approve")),
		chromedp.WaitVisible(chromedp.CSS("#notice")))
	require.Contains(t, b.text("#notice"), "alice can log in now")
	b.logout()

	// Alice logs in and turns on TOTP.
	b.login("alice", alicePassword)
	require.True(t, strings.HasSuffix(b.location(), "/hub/home"), b.location())
	require.Contains(t, b.text("header"), "alice")
	b.do(chromedp.Click(chromedp.CSS("#totp-link")),
		chromedp.WaitVisible(chromedp.CSS("#begin")),
		chromedp.Click(chromedp.CSS("#begin")),
		chromedp.WaitVisible(chromedp.CSS("#qr")))
	secret := b.text("#secret")
	// A wrong code does not turn it on; the page offers a new secret.
	b.do(chromedp.SendKeys(chromedp.CSS("#code"), "000000"),
		chromedp.Click(chromedp.CSS("#confirm")),
		chromedp.WaitVisible(chromedp.CSS("#error")))
	secret = b.text("#secret")
	code, err := totp.GenerateCode(secret, h.clock.Now())
	require.NoError(t, err)
	b.do(chromedp.SendKeys(chromedp.CSS("#code"), code),
		chromedp.Click(chromedp.CSS("#confirm")),
		chromedp.WaitVisible(chromedp.CSS("#recovery-codes")))
	codes := strings.Fields(b.text("#recovery-codes"))
	require.Len(t, codes, 10)
	b.logout()

	// Logging in now asks for a code after the password.
	h.clock.Add(30 * time.Second)
	b.login("alice", alicePassword)
	b.do(chromedp.WaitVisible(chromedp.CSS("#code")))
	require.Contains(t, b.location(), "/hub/login/totp")
	b.do(chromedp.SendKeys(chromedp.CSS("#code"), "123456"),
		chromedp.Click(chromedp.CSS("#verify")),
		chromedp.WaitVisible(chromedp.CSS("#error")))
	code, err = totp.GenerateCode(secret, h.clock.Now())
	require.NoError(t, err)
	b.do(chromedp.SendKeys(chromedp.CSS("#code"), code),
		chromedp.Click(chromedp.CSS("#verify")),
		chromedp.WaitVisible(`//h1[contains(., "Your servers")]`))
	b.logout()

	// A recovery code works instead of the app.
	b.login("alice", alicePassword)
	b.do(chromedp.WaitVisible(chromedp.CSS("#code")),
		chromedp.SendKeys(chromedp.CSS("#code"), codes[0]),
		chromedp.Click(chromedp.CSS("#verify")),
		chromedp.WaitVisible(`//h1[contains(., "Your servers")]`))
	b.logout()

	// Three wrong passwords lock the account (the wrong code above counted
	// too, and the right logins since cleared it); then even the right one
	// is refused.
	for range 3 {
		b.login("alice", "not-her-password")
	}
	require.Contains(t, b.text("#error"), "Too many failed logins")
	b.login("alice", alicePassword)
	require.Contains(t, b.text("#error"), "Too many failed logins")
	require.NotContains(t, b.location(), "/hub/login/totp")

	// After the lockout time it works again.
	h.clock.Add(10*time.Minute + time.Second)
	b.login("alice", alicePassword)
	b.do(chromedp.WaitVisible(chromedp.CSS("#code")))
}
