// Package account runs the fallback logins that work without an LMS:
// native accounts (sign-up, administrator approval, passwords, TOTP and
// recovery codes) and LDAP or Active Directory logins through package
// ldapauth. It also keeps what applies to every login method: the
// userlist and blocked names, the lockout and rate limits kept in the
// database, and the rule that joins an LMS identity and a directory
// identity into one user.
//
// account depends on ldapauth, seal and store; sessions stay with package
// auth.
package account

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/labhub/labhub/ldapauth"
	"github.com/labhub/labhub/seal"
	"github.com/labhub/labhub/store"
)

// Errors of a login. Callers show ErrBadCredentials' generic message for
// every failure except ErrNotApproved and *LockedError.
var (
	// ErrBadCredentials covers an unknown name, a wrong password or code,
	// a blocked or unlisted name: the person learns nothing about which.
	ErrBadCredentials = errors.New("invalid username or password")
	// ErrNotApproved is returned only after the right password, so it
	// reveals nothing to someone guessing.
	ErrNotApproved = errors.New("account awaits approval by an administrator")
	// ErrDirectoryDown is returned when the LDAP server cannot be reached.
	ErrDirectoryDown = errors.New("directory server unavailable")
)

// SignupMode says whether people may create native accounts.
type SignupMode string

// Sign-up modes.
const (
	SignupOff      SignupMode = "off"
	SignupApproval SignupMode = "approval"
	SignupOpen     SignupMode = "open"
)

// LinkRule says when a directory login and an LMS launch are the same user.
type LinkRule string

// Link rules.
const (
	LinkNone     LinkRule = "none"
	LinkUsername LinkRule = "username"
	LinkEmail    LinkRule = "email"
)

// Directory checks a login name and password against LDAP.
type Directory interface {
	Authenticate(ctx context.Context, login, password string) (*ldapauth.Result, error)
}

// Options configures a Service.
type Options struct {
	// Native turns native accounts on.
	Native bool
	// Signup says who may create native accounts; "" means SignupApproval.
	Signup SignupMode
	// Password is the policy for new passwords.
	Password PasswordPolicy
	// Throttle sets lockouts and rate limits.
	Throttle ThrottleOptions
	// Policy holds the userlist and the blocked names.
	Policy *Policy
	// LDAP, when not nil, turns LDAP logins on.
	LDAP Directory
	// Link joins directory logins and LMS launches; "" means LinkNone.
	Link LinkRule
	// Issuer names Labhub in authenticator apps; "" means "Labhub".
	Issuer string
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Service runs native accounts and LDAP logins.
type Service struct {
	db       *store.DB
	keys     *seal.Keyring
	opts     Options
	throttle *Throttle
	codeKey  []byte
	log      *slog.Logger
}

// New returns a Service. keys seals TOTP secrets and keys the hashes of
// recovery codes.
func New(db *store.DB, keys *seal.Keyring, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Signup == "" {
		o.Signup = SignupApproval
	}
	if o.Link == "" {
		o.Link = LinkNone
	}
	if o.Issuer == "" {
		o.Issuer = "Labhub"
	}
	return &Service{db: db, keys: keys, opts: o, log: o.Logger,
		throttle: &Throttle{db: db, opts: o.Throttle, now: o.Now},
		codeKey:  keys.Derive("recovery-codes", 32)}
}

// Native reports whether native accounts are on.
func (s *Service) Native() bool { return s.opts.Native }

// LDAP reports whether LDAP logins are on.
func (s *Service) LDAP() bool { return s.opts.LDAP != nil }

// Fallback reports whether any login besides LTI is on.
func (s *Service) Fallback() bool { return s.Native() || s.LDAP() }

// SignupOpen reports whether the sign-up page is available.
func (s *Service) SignupOpen() bool { return s.opts.Native && s.opts.Signup != SignupOff }

// Policy returns the userlist and blocked names in force.
func (s *Service) Policy() *Policy { return s.opts.Policy }

// Throttle returns the lockout keeper.
func (s *Service) Throttle() *Throttle { return s.throttle }

// Blocked reports whether a user may not log in by any method.
func (s *Service) Blocked(name string) bool { return s.opts.Policy.IsBlocked(name) }

// Sweep deletes throttle counts that can no longer lock anything.
func (s *Service) Sweep(ctx context.Context) error { return s.throttle.Sweep(ctx) }

// Login is a successful password check.
type Login struct {
	User store.User
	// Method is "native" or "ldap".
	Method string
	// Account is the native account, nil for LDAP.
	Account *store.NativeAccount
	// NeedTOTP is true when the account has TOTP on: the login is complete
	// only after VerifySecondFactor.
	NeedTOTP bool
}

// fail logs a failed login, counts it, and returns err, or a *LockedError
// when this failure locked the account or address: the person learns at
// once that trying on is pointless. Unknown names lock like real ones.
func (s *Service) fail(ctx context.Context, method, login, addr, reason string, err error) error {
	s.log.Warn("failed login", "method", method, "user", login, "remote_addr", addr, "reason", reason)
	if cerr := s.throttle.Fail(ctx, login, addr); cerr != nil {
		return cerr
	}
	if lerr := s.throttle.Check(ctx, login, addr); lerr != nil {
		return lerr
	}
	return err
}

// precheck refuses a login attempt that must wait or may not happen at all.
func (s *Service) precheck(ctx context.Context, method, name, addr string) error {
	if err := s.throttle.Check(ctx, name, addr); err != nil {
		var le *LockedError
		if errors.As(err, &le) {
			s.log.Warn("refused login while locked", "method", method, "user", name, "remote_addr", addr,
				"locked_until", le.Until, "address_locked", le.Address)
		}
		return err
	}
	return nil
}

// succeed clears the account's failures and records the login on the user.
func (s *Service) succeed(ctx context.Context, l *Login, login, addr string) error {
	if err := s.throttle.Succeed(ctx, login); err != nil {
		return err
	}
	if err := s.GrantListedAdmin(ctx, &l.User); err != nil {
		return err
	}
	now := s.opts.Now().UTC()
	if err := s.db.WithContext(ctx).Model(&store.User{}).Where("id = ?", l.User.ID).Update("last_activity", now).Error; err != nil {
		return fmt.Errorf("record login: %w", err)
	}
	if err := s.db.WithContext(ctx).Model(&store.Identity{}).
		Where("user_id = ? AND provider = ?", l.User.ID, l.Method).Update("last_login", now).Error; err != nil {
		return fmt.Errorf("record login: %w", err)
	}
	s.log.Info("logged in", "method", l.Method, "user", l.User.Name, "remote_addr", addr)
	return nil
}

// GrantListedAdmin makes u an administrator when the userlist names it as
// one. Every login method calls it (native, LDAP and both LTI versions), so
// a listed administrator who first arrives after the hub started is one
// from that first login on.
func (s *Service) GrantListedAdmin(ctx context.Context, u *store.User) error {
	if u.Admin || !s.opts.Policy.IsAdmin(u.Name) {
		return nil
	}
	if err := s.db.WithContext(ctx).Model(&store.User{}).Where("id = ?", u.ID).Update("admin", true).Error; err != nil {
		return fmt.Errorf("grant userlist admin to %s: %w", u.Name, err)
	}
	u.Admin = true
	s.log.Info("granted userlist admin", "user", u.Name)
	return nil
}

// ApplyAdmins makes the userlist's administrators administrators, for
// users that already exist.
func (s *Service) ApplyAdmins(ctx context.Context) error {
	p := s.opts.Policy
	if p == nil || p.Userlist == nil || len(p.Userlist.Admins) == 0 {
		return nil
	}
	var names []string
	for n := range p.Userlist.Admins {
		names = append(names, n)
	}
	if err := s.db.WithContext(ctx).Model(&store.User{}).Where("name IN ?", names).Update("admin", true).Error; err != nil {
		return fmt.Errorf("apply userlist admins: %w", err)
	}
	return nil
}

// uniqueName returns name, or name-2, name-3, ... when a user has it.
func uniqueName(tx *gorm.DB, name string) (string, error) {
	for i := 1; i < 1000; i++ {
		cand := name
		if i > 1 {
			cand = fmt.Sprintf("%s-%d", name, i)
		}
		var n int64
		if err := tx.Model(&store.User{}).Where("name = ?", cand).Count(&n).Error; err != nil {
			return "", fmt.Errorf("check username: %w", err)
		}
		if n == 0 {
			return cand, nil
		}
	}
	return "", fmt.Errorf("no free username for %q", name)
}

func lowerEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }
