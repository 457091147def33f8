package account_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/account"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/seal"
	"github.com/labhub/labhub/store"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func keys(t testing.TB) *seal.Keyring {
	k, err := seal.New("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	require.NoError(t, err)
	return k
}

func newService(t testing.TB, db *store.DB, c *clock, o account.Options) *account.Service {
	o.Native = true
	o.Now = c.Now
	o.Logger = slog.New(slog.DiscardHandler)
	if o.Throttle.AccountFailures == 0 {
		o.Throttle = account.ThrottleOptions{AccountFailures: 3, AddressFailures: 10, Lockout: 10 * time.Minute}
	}
	return account.New(db, keys(t), o)
}

const goodPassword = "tangerine-orbit-lantern"

func TestPasswordHash(t *testing.T) {
	h, err := account.HashPassword("secret pässword")
	require.NoError(t, err)
	require.Contains(t, h, "$argon2id$v=19$m=19456,t=2,p=1$")
	require.True(t, account.CheckPassword(h, "secret pässword"))
	require.False(t, account.CheckPassword(h, "secret password"))
	h2, _ := account.HashPassword("secret pässword")
	require.NotEqual(t, h, h2, "every hash has its own salt")
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$AAAA$AAAA", "$argon2id$v=19$m=0,t=2,p=1$AAAA$AAAA",
		"$argon2id$v=19$m=4194304,t=2,p=1$AAAA$AAAA"} {
		require.False(t, account.CheckPassword(bad, "x"), bad)
	}
}

func TestPasswordPolicy(t *testing.T) {
	p := account.PasswordPolicy{MinLength: 10, MinScore: 2}
	for _, tc := range []struct{ pw, why string }{
		{"short1!", "too short"},
		{"qwertyuiop", "common"},
		{"1234567890", "common"},
		{"Password123", "common with capital and digits"},
		{"p@ssw0rd123", "common in l33t"},
		{"aaaaaaaaaaaa", "repeated"},
		{"alice.example", "the person's own name"},
		{"          ", "only spaces"},
	} {
		err := p.Check(tc.pw, "alice.example", "alice@example.org")
		require.Error(t, err, tc.why)
		require.True(t, account.IsPasswordError(err))
	}
	for _, tc := range []struct{ pw, user, email string }{
		{"zebrafinch42", "zebrafinch42", ""},
		{"marylou2026marylou", "marylou", ""},
		{"johnsmithjsmith", "jsmith", "john.smith@example.org"},
		{"x-John.Smith-2026", "js", "john.smith@example.org"},
	} {
		err := p.Check(tc.pw, tc.user, tc.email)
		require.ErrorContains(t, err, "must not contain your username or email", tc.pw)
	}
	require.NoError(t, p.Check("tiny violin orbit", "tin"), "names shorter than 4 letters may occur")
	require.NoError(t, p.Check(goodPassword, "alice"))
	require.NoError(t, p.Check("Grüße aus Köln 2024", "alice"), "non-ASCII passwords are fine")
	require.Error(t, account.PasswordPolicy{}.Check("nine-char"), "the default minimum is 10")
}

func TestUserlist(t *testing.T) {
	ul, err := account.ReadUserlist(stringsReader("# staff\nAlice admin\nbob\n\n  carol   ADMIN \n"))
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"alice": true, "bob": true, "carol": true}, ul.Allowed)
	require.Equal(t, map[string]bool{"alice": true, "carol": true}, ul.Admins)
	_, err = account.ReadUserlist(stringsReader("alice admin extra\n"))
	require.ErrorContains(t, err, "line 1")
	_, err = account.ReadUserlist(stringsReader("alice superuser\n"))
	require.Error(t, err)

	p := &account.Policy{Userlist: ul, Blocked: account.ParseNames("root, Alice")}
	require.False(t, p.Allowed("alice"), "blocked wins over the userlist")
	require.True(t, p.Allowed("Bob"))
	require.False(t, p.Allowed("dave"), "not listed")
	require.True(t, p.IsAdmin("carol"))
	require.True(t, (&account.Policy{Blocked: account.ParseNames("root")}).Allowed("dave"), "no userlist allows all")
	require.False(t, (&account.Policy{Blocked: account.ParseNames("root")}).Allowed("ROOT"))
}

func TestSignupApprovalLogin(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := &clock{t: time.Now()}
			s := newService(t, db, c, account.Options{Password: account.PasswordPolicy{MinScore: 2},
				Policy: &account.Policy{Blocked: account.ParseNames("root")}})
			a, err := s.SignUp(ctx, account.SignupInput{Username: " Alice ", Password: goodPassword, Confirm: goodPassword,
				Email: "alice@example.org"}, "192.0.2.1")
			require.NoError(t, err)
			require.Equal(t, "alice", a.Username)
			require.False(t, a.Approved)

			// Refusals of the form say what to fix.
			for _, in := range []account.SignupInput{
				{Username: "alice", Password: goodPassword, Confirm: goodPassword},
				{Username: "root", Password: goodPassword, Confirm: goodPassword},
				{Username: "a/b", Password: goodPassword, Confirm: goodPassword},
				{Username: "bob", Password: goodPassword, Confirm: goodPassword + "x"},
				{Username: "bob", Password: "password12", Confirm: "password12"},
				{Username: "bob", Password: goodPassword, Confirm: goodPassword, Email: "not an email"},
			} {
				_, err := s.SignUp(ctx, in, "192.0.2.1")
				var fe *account.FormError
				require.True(t, errors.As(err, &fe), "%+v: %v", in, err)
			}

			// Only the right password learns that approval is pending.
			_, err = s.LoginNative(ctx, "alice", "wrong-password", "192.0.2.1")
			require.ErrorIs(t, err, account.ErrBadCredentials)
			_, err = s.LoginNative(ctx, "alice", goodPassword, "192.0.2.1")
			require.ErrorIs(t, err, account.ErrNotApproved)
			_, err = s.LoginNative(ctx, "nobody", goodPassword, "192.0.2.1")
			require.ErrorIs(t, err, account.ErrBadCredentials)

			_, err = s.Approve(ctx, "alice")
			require.NoError(t, err)
			l, err := s.LoginNative(ctx, "ALICE", goodPassword, "192.0.2.1")
			require.NoError(t, err)
			require.Equal(t, "alice", l.User.Name)
			require.False(t, l.NeedTOTP)
			var id store.Identity
			require.NoError(t, db.Where("provider = ? AND subject = ?", "native", "alice").First(&id).Error)
			require.Equal(t, l.User.ID, id.UserID)

			// A name any user has cannot be signed up for, and an
			// approved account cannot be discarded.
			require.NoError(t, db.Create(&store.User{Name: "lti-user"}).Error)
			_, err = s.SignUp(ctx, account.SignupInput{Username: "lti-user", Password: goodPassword, Confirm: goodPassword}, "")
			require.ErrorContains(t, err, "taken")
			require.Error(t, s.Discard(ctx, "alice"))

			// Discarding a pending account removes its user too.
			_, err = s.SignUp(ctx, account.SignupInput{Username: "spam", Password: goodPassword, Confirm: goodPassword}, "")
			require.NoError(t, err)
			require.NoError(t, s.Discard(ctx, "spam"))
			var n int64
			require.NoError(t, db.Model(&store.User{}).Where("name = ?", "spam").Count(&n).Error)
			require.Zero(t, n)

			list, err := s.List(ctx)
			require.NoError(t, err)
			require.Len(t, list, 1)
		})
	}
}

func TestOpenSignupAndUserlist(t *testing.T) {
	ctx := context.Background()
	db := testutil.SQLite(t)
	ul, err := account.ReadUserlist(stringsReader("alice admin\nbob\n"))
	require.NoError(t, err)
	s := newService(t, db, &clock{t: time.Now()}, account.Options{Signup: account.SignupOpen,
		Policy: &account.Policy{Userlist: ul, Blocked: account.ParseNames("root")}})
	for _, n := range []string{"alice", "bob"} {
		a, err := s.SignUp(ctx, account.SignupInput{Username: n, Password: goodPassword, Confirm: goodPassword}, "")
		require.NoError(t, err)
		require.True(t, a.Approved, "open sign-up approves at once")
	}
	_, err = s.SignUp(ctx, account.SignupInput{Username: "mallory", Password: goodPassword, Confirm: goodPassword}, "")
	require.ErrorContains(t, err, "cannot sign up", "with a userlist only listed names may sign up")

	l, err := s.LoginNative(ctx, "alice", goodPassword, "")
	require.NoError(t, err)
	require.True(t, l.User.Admin, "the userlist's admin becomes an administrator")
	l, err = s.LoginNative(ctx, "bob", goodPassword, "")
	require.NoError(t, err)
	require.False(t, l.User.Admin)

	// Taking bob off the list (a restart with a new userlist) shuts him out.
	ul2, _ := account.ReadUserlist(stringsReader("alice admin\n"))
	s = newService(t, db, &clock{t: time.Now()}, account.Options{Policy: &account.Policy{Userlist: ul2}})
	_, err = s.LoginNative(ctx, "bob", goodPassword, "")
	require.ErrorIs(t, err, account.ErrBadCredentials)

	closed := newService(t, db, &clock{t: time.Now()}, account.Options{Signup: account.SignupOff})
	_, err = closed.SignUp(ctx, account.SignupInput{Username: "x1", Password: goodPassword, Confirm: goodPassword}, "")
	require.ErrorContains(t, err, "closed")
}

func TestLockoutSurvivesRestart(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := &clock{t: time.Now()}
			opts := account.Options{Signup: account.SignupOpen,
				Throttle: account.ThrottleOptions{AccountFailures: 3, AddressFailures: 5, Lockout: 10 * time.Minute}}
			s := newService(t, db, c, opts)
			_, err := s.SignUp(ctx, account.SignupInput{Username: "alice", Password: goodPassword, Confirm: goodPassword}, "")
			require.NoError(t, err)

			var le *account.LockedError
			for i := range 3 {
				_, err = s.LoginNative(ctx, "alice", "wrong-password", "192.0.2.1")
				if i < 2 {
					require.ErrorIs(t, err, account.ErrBadCredentials)
				} else {
					require.ErrorAs(t, err, &le, "the failure that locks says so")
				}
			}
			// Locked: even the right password, from another address, waits.
			_, err = s.LoginNative(ctx, "alice", goodPassword, "192.0.2.99")
			require.ErrorAs(t, err, &le)
			require.False(t, le.Address)

			// A new service on the same database (a restart) remembers.
			s = newService(t, db, c, opts)
			_, err = s.LoginNative(ctx, "alice", goodPassword, "192.0.2.99")
			require.ErrorAs(t, err, &le)

			c.Add(10*time.Minute + time.Second)
			_, err = s.LoginNative(ctx, "alice", goodPassword, "192.0.2.99")
			require.NoError(t, err, "the lock ends after the lockout")

			// One address guessing at many accounts is stopped too.
			for i := range 4 {
				_, err = s.LoginNative(ctx, "guess"+string(rune('a'+i)), "whatever-pass", "198.51.100.7")
				require.ErrorIs(t, err, account.ErrBadCredentials)
			}
			_, err = s.LoginNative(ctx, "guesse", "whatever-pass", "198.51.100.7")
			require.ErrorAs(t, err, &le)
			_, err = s.LoginNative(ctx, "alice", goodPassword, "198.51.100.7")
			require.ErrorAs(t, err, &le)
			require.True(t, le.Address)
			_, err = s.LoginNative(ctx, "alice", goodPassword, "192.0.2.99")
			require.NoError(t, err, "other addresses are not affected")

			// An administrator's password reset lifts an account's lock.
			for range 3 {
				_, _ = s.LoginNative(ctx, "alice", "wrong-password", "192.0.2.1")
			}
			const newPassword = "marmalade-quartz-heron"
			require.NoError(t, s.ResetPassword(ctx, "alice", newPassword, newPassword))
			_, err = s.LoginNative(ctx, "alice", newPassword, "192.0.2.2")
			require.NoError(t, err)

			c.Add(time.Hour)
			require.NoError(t, s.Sweep(ctx))
			var n int64
			require.NoError(t, db.Model(&store.LoginThrottle{}).Count(&n).Error)
			require.Zero(t, n, "old counts are swept")
		})
	}
}

func TestChangePassword(t *testing.T) {
	ctx := context.Background()
	db := testutil.SQLite(t)
	s := newService(t, db, &clock{t: time.Now()}, account.Options{Signup: account.SignupOpen})
	a, err := s.SignUp(ctx, account.SignupInput{Username: "alice", Password: goodPassword, Confirm: goodPassword}, "")
	require.NoError(t, err)
	const next = "marmalade-quartz-heron"
	require.ErrorContains(t, s.ChangePassword(ctx, a.UserID, "wrong", next, next), "current password")
	require.ErrorContains(t, s.ChangePassword(ctx, a.UserID, goodPassword, "short", "short"), "too short")
	require.NoError(t, s.ChangePassword(ctx, a.UserID, goodPassword, next, next))
	_, err = s.LoginNative(ctx, "alice", goodPassword, "")
	require.ErrorIs(t, err, account.ErrBadCredentials)
	_, err = s.LoginNative(ctx, "alice", next, "")
	require.NoError(t, err)
	require.ErrorIs(t, s.ResetPassword(ctx, "nobody", next, next), store.ErrNotFound)
}

func TestTOTP(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := &clock{t: time.Now()}
			s := newService(t, db, c, account.Options{Signup: account.SignupOpen})
			a, err := s.SignUp(ctx, account.SignupInput{Username: "alice", Password: goodPassword, Confirm: goodPassword}, "")
			require.NoError(t, err)

			enr, err := s.BeginTOTP(ctx, a)
			require.NoError(t, err)
			require.Contains(t, enr.URL, "otpauth://totp/Labhub:alice")
			require.Contains(t, enr.QR, "data:image/png;base64,")
			a, err = s.AccountOf(ctx, a.UserID)
			require.NoError(t, err)
			require.NotNil(t, a.TOTPPending)
			require.NotContains(t, string(a.TOTPPending), enr.Secret, "the secret is stored sealed")

			// Not on until a code proves the app has the secret.
			l, err := s.LoginNative(ctx, "alice", goodPassword, "")
			require.NoError(t, err)
			require.False(t, l.NeedTOTP)
			_, err = s.ConfirmTOTP(ctx, a, "000000")
			require.Error(t, err)
			code, err := totp.GenerateCode(enr.Secret, c.Now())
			require.NoError(t, err)
			codes, err := s.ConfirmTOTP(ctx, a, code)
			require.NoError(t, err)
			require.Len(t, codes, 10)

			l, err = s.LoginNative(ctx, "alice", goodPassword, "")
			require.NoError(t, err)
			require.True(t, l.NeedTOTP)
			// The code used for confirming cannot log in again.
			require.ErrorIs(t, s.VerifySecondFactor(ctx, l, code, ""), account.ErrBadCredentials)
			c.Add(30 * time.Second)
			code, _ = totp.GenerateCode(enr.Secret, c.Now())
			require.NoError(t, s.VerifySecondFactor(ctx, l, code, ""))
			require.ErrorIs(t, s.VerifySecondFactor(ctx, l, code, ""), account.ErrBadCredentials, "a code works once")

			// A recovery code works once, in any case and without its dash.
			require.NoError(t, s.VerifySecondFactor(ctx, l, " "+toUpperNoDash(codes[3])+" ", ""))
			require.ErrorIs(t, s.VerifySecondFactor(ctx, l, codes[3], ""), account.ErrBadCredentials)
			a, _ = s.AccountOf(ctx, a.UserID)
			require.Equal(t, 9, account.RecoveryCodesLeft(a))

			// Turning TOTP off needs the password.
			require.Error(t, s.DisableTOTP(ctx, a, "wrong"))
			require.NoError(t, s.DisableTOTP(ctx, a, goodPassword))
			l, err = s.LoginNative(ctx, "alice", goodPassword, "")
			require.NoError(t, err)
			require.False(t, l.NeedTOTP)
		})
	}
}

// Wrong second factors count towards the account's lockout.
func TestTOTPFailuresLock(t *testing.T) {
	ctx := context.Background()
	db := testutil.SQLite(t)
	c := &clock{t: time.Now()}
	s := newService(t, db, c, account.Options{Signup: account.SignupOpen})
	a, _ := s.SignUp(ctx, account.SignupInput{Username: "alice", Password: goodPassword, Confirm: goodPassword}, "")
	enr, err := s.BeginTOTP(ctx, a)
	require.NoError(t, err)
	a, _ = s.AccountOf(ctx, a.UserID)
	code, _ := totp.GenerateCode(enr.Secret, c.Now())
	_, err = s.ConfirmTOTP(ctx, a, code)
	require.NoError(t, err)
	c.Add(time.Minute)
	l, err := s.LoginNative(ctx, "alice", goodPassword, "")
	require.NoError(t, err)
	for range 2 {
		require.ErrorIs(t, s.VerifySecondFactor(ctx, l, "123456", ""), account.ErrBadCredentials)
	}
	var le *account.LockedError
	require.ErrorAs(t, s.VerifySecondFactor(ctx, l, "123456", ""), &le)
	code, _ = totp.GenerateCode(enr.Secret, c.Now())
	require.ErrorAs(t, s.VerifySecondFactor(ctx, l, code, ""), &le, "even the right code waits")
}
