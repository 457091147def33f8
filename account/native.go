package account

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"gorm.io/gorm"

	"github.com/labhub/labhub/store"
)

// FormError is a refusal of a form, in words for the person who filled it.
type FormError struct {
	// Field names the form field at fault, "" for the whole form.
	Field   string
	Message string
}

func (e *FormError) Error() string { return e.Message }

// SignupInput is what the sign-up form carries.
type SignupInput struct {
	Username, Password, Confirm, Email string
}

// SignUp creates a native account, approved at once only when sign-up is
// open. A name that any user already has is refused: a new account never
// takes over an existing user.
//
// Every attempt, accepted or refused, counts against addr's limit as a
// failed login does, so one address can neither create accounts in bulk
// nor probe for taken names; past the limit it gets a *LockedError.
func (s *Service) SignUp(ctx context.Context, in SignupInput, addr string) (*store.NativeAccount, error) {
	if !s.SignupOpen() {
		return nil, &FormError{Message: "Sign-up is closed. Ask an administrator for an account."}
	}
	if err := s.precheck(ctx, "signup", "", addr); err != nil {
		return nil, err
	}
	if err := s.throttle.Fail(ctx, "", addr); err != nil {
		return nil, err
	}
	return s.signUp(ctx, in, addr)
}

func (s *Service) signUp(ctx context.Context, in SignupInput, addr string) (*store.NativeAccount, error) {
	name := Normalize(in.Username)
	if !ValidNewName(name) {
		return nil, &FormError{Field: "username", Message: "Use letters, digits, \".\", \"_\", \"-\" or \"@\" for the username, starting with a letter or digit."}
	}
	if !s.opts.Policy.Allowed(name) {
		s.log.Warn("refused sign-up", "user", name, "remote_addr", addr, "reason", "blocked or not in userlist")
		return nil, &FormError{Field: "username", Message: "This username cannot sign up here. Ask an administrator."}
	}
	email, err := checkEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if err := s.opts.Password.checkNew(in.Password, in.Confirm, name, email); err != nil {
		return nil, &FormError{Field: "password", Message: err.Error()}
	}
	a, err := s.create(ctx, name, in.Password, email, s.opts.Signup == SignupOpen, false)
	if err != nil {
		return nil, err
	}
	s.log.Info("signed up", "user", name, "remote_addr", addr, "approved", a.Approved)
	return a, nil
}

// CreateAccount creates an approved native account for an administrator
// (the command line), attaching it to the user of that name when one
// exists without a native account. The password must meet the policy.
func (s *Service) CreateAccount(ctx context.Context, name, password, email string, admin bool) (*store.NativeAccount, error) {
	name = Normalize(name)
	if !ValidNewName(name) {
		return nil, &FormError{Field: "username", Message: fmt.Sprintf("%q cannot be a username", name)}
	}
	email, err := checkEmail(email)
	if err != nil {
		return nil, err
	}
	if err := s.opts.Password.Check(password, name, email); err != nil {
		return nil, err
	}
	a, err := s.create(ctx, name, password, email, true, true)
	if err != nil {
		return nil, err
	}
	if admin {
		if err := s.db.WithContext(ctx).Model(&store.User{}).Where("id = ?", a.UserID).Update("admin", true).Error; err != nil {
			return nil, fmt.Errorf("make admin: %w", err)
		}
	}
	return a, nil
}

func checkEmail(e string) (string, error) {
	e = strings.TrimSpace(e)
	if e == "" {
		return "", nil
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 300 {
		return "", &FormError{Field: "email", Message: "This email address does not look right; leave it empty or correct it."}
	}
	return e, nil
}

// create writes the user, identity and account in one transaction.
// existing lets an administrator attach the account to a user of that name.
func (s *Service) create(ctx context.Context, name, password, email string, approved, existing bool) (*store.NativeAccount, error) {
	hash, err := HashPassword(password)
	if err != nil {
		return nil, err
	}
	now := s.opts.Now().UTC()
	a := &store.NativeAccount{Username: name, PasswordHash: hash, Approved: approved, Email: email, PasswordChangedAt: now}
	taken := &FormError{Field: "username", Message: "This username is taken. Choose another."}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var u store.User
		err := tx.Where("name = ?", name).First(&u).Error
		switch {
		case err == nil && !existing:
			return taken
		case err == nil:
			var n int64
			if err := tx.Model(&store.NativeAccount{}).Where("user_id = ?", u.ID).Count(&n).Error; err != nil {
				return fmt.Errorf("check account: %w", err)
			}
			if n > 0 {
				return taken
			}
		case errors.Is(err, gorm.ErrRecordNotFound):
			u = store.User{Name: name, Email: email}
			if err := tx.Create(&u).Error; err != nil {
				return fmt.Errorf("create user: %w", err)
			}
		default:
			return fmt.Errorf("look up user: %w", err)
		}
		a.UserID = u.ID
		id := store.Identity{UserID: u.ID, Provider: store.ProviderNative, Subject: name, CreatedAt: now, LastLogin: now}
		if err := tx.Create(&id).Error; err != nil {
			return fmt.Errorf("create identity: %w", err)
		}
		if err := tx.Create(a).Error; err != nil {
			return fmt.Errorf("create account: %w", err)
		}
		return nil
	})
	if store.IsUniqueViolation(err) {
		return nil, taken
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// LoginNative checks a native account's name and password from addr.
func (s *Service) LoginNative(ctx context.Context, login, password, addr string) (*Login, error) {
	const method = store.ProviderNative
	if !s.opts.Native {
		return nil, ErrBadCredentials
	}
	name := Normalize(login)
	if err := s.precheck(ctx, method, name, addr); err != nil {
		return nil, err
	}
	if name == "" || password == "" || len(password) > maxPasswordBytes {
		return nil, s.fail(ctx, method, name, addr, "empty or oversized field", ErrBadCredentials)
	}
	var a store.NativeAccount
	err := s.db.WithContext(ctx).Where("username = ?", name).First(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		CheckPassword(dummyHash(), password)
		return nil, s.fail(ctx, method, name, addr, "no such account", ErrBadCredentials)
	}
	if err != nil {
		return nil, fmt.Errorf("look up account: %w", err)
	}
	if !CheckPassword(a.PasswordHash, password) {
		return nil, s.fail(ctx, method, name, addr, "wrong password", ErrBadCredentials)
	}
	var u store.User
	if err := s.db.WithContext(ctx).First(&u, a.UserID).Error; err != nil {
		return nil, fmt.Errorf("look up account user: %w", err)
	}
	if !s.opts.Policy.Allowed(name) || !s.opts.Policy.Allowed(u.Name) {
		return nil, s.fail(ctx, method, name, addr, "blocked or not in userlist", ErrBadCredentials)
	}
	if !a.Approved {
		s.log.Warn("refused login of unapproved account", "method", method, "user", name, "remote_addr", addr)
		return nil, ErrNotApproved
	}
	l := &Login{User: u, Method: method, Account: &a, NeedTOTP: a.TOTPSealed != nil}
	if l.NeedTOTP {
		return l, nil
	}
	if err := s.succeed(ctx, l, name, addr); err != nil {
		return nil, err
	}
	return l, nil
}

// AccountOf returns the native account of a user, or store.ErrNotFound.
func (s *Service) AccountOf(ctx context.Context, userID uint) (*store.NativeAccount, error) {
	var a store.NativeAccount
	err := s.db.WithContext(ctx).Where("user_id = ?", userID).First(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("look up account: %w", err)
	}
	return &a, nil
}

// AccountByName returns the native account of that login name (in any
// case), or store.ErrNotFound.
func (s *Service) AccountByName(ctx context.Context, name string) (*store.NativeAccount, error) {
	return s.byName(ctx, name)
}

func (s *Service) byName(ctx context.Context, name string) (*store.NativeAccount, error) {
	var a store.NativeAccount
	err := s.db.WithContext(ctx).Where("username = ?", Normalize(name)).First(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("look up account: %w", err)
	}
	return &a, nil
}

// ChangePassword lets the owner of an account change its password.
func (s *Service) ChangePassword(ctx context.Context, userID uint, old, password, confirm string) error {
	a, err := s.AccountOf(ctx, userID)
	if err != nil {
		return err
	}
	if !CheckPassword(a.PasswordHash, old) {
		return &FormError{Field: "old", Message: "The current password is not right."}
	}
	if err := s.opts.Password.checkNew(password, confirm, a.Username, a.Email); err != nil {
		return &FormError{Field: "password", Message: err.Error()}
	}
	return s.setPassword(ctx, a, password)
}

// ResetPassword sets a new password for an account, as an administrator
// does, and lifts its lock.
func (s *Service) ResetPassword(ctx context.Context, username, password, confirm string) error {
	a, err := s.byName(ctx, username)
	if err != nil {
		return err
	}
	if err := s.opts.Password.checkNew(password, confirm, a.Username, a.Email); err != nil {
		return &FormError{Field: "password", Message: err.Error()}
	}
	if err := s.setPassword(ctx, a, password); err != nil {
		return err
	}
	return s.throttle.Unlock(ctx, a.Username)
}

func (s *Service) setPassword(ctx context.Context, a *store.NativeAccount, password string) error {
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	err = s.db.WithContext(ctx).Model(&store.NativeAccount{}).Where("id = ?", a.ID).
		Updates(map[string]any{"password_hash": hash, "password_changed_at": s.opts.Now().UTC()}).Error
	if err != nil {
		return fmt.Errorf("store password: %w", err)
	}
	return nil
}

// Approve lets an account log in.
func (s *Service) Approve(ctx context.Context, username string) (*store.NativeAccount, error) {
	a, err := s.byName(ctx, username)
	if err != nil {
		return nil, err
	}
	if err := s.db.WithContext(ctx).Model(&store.NativeAccount{}).Where("id = ?", a.ID).Update("approved", true).Error; err != nil {
		return nil, fmt.Errorf("approve account: %w", err)
	}
	a.Approved = true
	return a, nil
}

// Discard deletes an account that was never approved, and its user when
// nothing else refers to it.
func (s *Service) Discard(ctx context.Context, username string) error {
	a, err := s.byName(ctx, username)
	if err != nil {
		return err
	}
	if a.Approved {
		return &FormError{Message: "Only accounts that await approval can be discarded."}
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Delete(&store.NativeAccount{}, a.ID).Error; err != nil {
			return fmt.Errorf("delete account: %w", err)
		}
		if err := tx.Where("user_id = ? AND provider = ?", a.UserID, store.ProviderNative).Delete(&store.Identity{}).Error; err != nil {
			return fmt.Errorf("delete identity: %w", err)
		}
		var n int64
		if err := tx.Model(&store.Identity{}).Where("user_id = ?", a.UserID).Count(&n).Error; err != nil {
			return fmt.Errorf("count identities: %w", err)
		}
		if n == 0 {
			if err := tx.Delete(&store.User{}, a.UserID).Error; err != nil {
				return fmt.Errorf("delete user: %w", err)
			}
		}
		return nil
	})
}

// AccountView is a native account as the administrators' page lists it.
type AccountView struct {
	store.NativeAccount
	Locked bool
	TOTP   bool
}

// List returns every native account, those awaiting approval first.
func (s *Service) List(ctx context.Context) ([]AccountView, error) {
	var as []store.NativeAccount
	if err := s.db.WithContext(ctx).Order("approved, username").Find(&as).Error; err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	out := make([]AccountView, len(as))
	for i, a := range as {
		out[i] = AccountView{NativeAccount: a, TOTP: a.TOTPSealed != nil}
		var le *LockedError
		if err := s.throttle.Check(ctx, a.Username, ""); errors.As(err, &le) {
			out[i].Locked = true
		}
	}
	return out, nil
}
