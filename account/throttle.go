package account

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/labhub/labhub/store"
)

// ThrottleOptions sets how many failed logins an account and a client
// address may have before they must wait.
type ThrottleOptions struct {
	// AccountFailures is how many failures in a row lock an account; zero
	// never locks.
	AccountFailures int
	// AddressFailures is how many failures one client address may have
	// within Lockout before it must wait; zero never limits.
	AddressFailures int
	// Lockout is how long a locked account or address waits; zero means
	// ten minutes.
	Lockout time.Duration
}

func (o ThrottleOptions) lockout() time.Duration {
	if o.Lockout > 0 {
		return o.Lockout
	}
	return 10 * time.Minute
}

// LockedError is returned while an account or address must wait.
type LockedError struct {
	// Until is when the next attempt is allowed.
	Until time.Time
	// Address is true when the client address, not the account, is
	// limited.
	Address bool
}

func (e *LockedError) Error() string {
	what := "account"
	if e.Address {
		what = "client address"
	}
	return fmt.Sprintf("%s locked until %s after too many failed logins", what, e.Until.Format(time.RFC3339))
}

// Throttle keeps failed-login counts in the database.
type Throttle struct {
	db   *store.DB
	opts ThrottleOptions
	now  func() time.Time
}

func addrKey(addr string) string     { return "addr:" + addr }
func accountKey(login string) string { return "account:" + login }

// Check returns a *LockedError when the account or the address must wait.
// Attempts refused here are not counted, so a locked account unlocks on
// time even while someone keeps trying.
func (t *Throttle) Check(ctx context.Context, login, addr string) error {
	now := t.now().UTC()
	var rows []store.LoginThrottle
	if err := t.db.WithContext(ctx).Where("key IN ?", []string{accountKey(login), addrKey(addr)}).
		Find(&rows).Error; err != nil {
		return fmt.Errorf("read login throttle: %w", err)
	}
	for _, r := range rows {
		if r.LockedUntil != nil && now.Before(*r.LockedUntil) {
			return &LockedError{Until: *r.LockedUntil, Address: r.Key == addrKey(addr)}
		}
	}
	return nil
}

// Fail records a failed login of login from addr and locks either when it
// reaches its limit.
func (t *Throttle) Fail(ctx context.Context, login, addr string) error {
	return t.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if login != "" && t.opts.AccountFailures > 0 {
			// Failures count within one lockout period; a success clears them.
			if err := t.bump(tx, accountKey(login), t.opts.AccountFailures, t.opts.lockout()); err != nil {
				return err
			}
		}
		if addr != "" && t.opts.AddressFailures > 0 {
			// The same for the address, which no success clears.
			if err := t.bump(tx, addrKey(addr), t.opts.AddressFailures, t.opts.lockout()); err != nil {
				return err
			}
		}
		return nil
	})
}

func (t *Throttle) bump(tx *gorm.DB, key string, limit int, window time.Duration) error {
	now := t.now().UTC()
	var r store.LoginThrottle
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("key = ?", key).First(&r).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		r = store.LoginThrottle{Key: key, WindowStart: now}
	case err != nil:
		return fmt.Errorf("read login throttle: %w", err)
	}
	expired := r.LockedUntil != nil && !now.Before(*r.LockedUntil)
	if expired || (window > 0 && now.Sub(r.WindowStart) > window) {
		// A lock that ran out, or a window that passed, starts afresh.
		r.Failures, r.WindowStart, r.LockedUntil = 0, now, nil
	}
	r.Failures++
	if r.Failures >= limit {
		until := now.Add(t.opts.lockout())
		r.LockedUntil = &until
	}
	r.UpdatedAt = now
	if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&r).Error; err != nil {
		return fmt.Errorf("store login throttle: %w", err)
	}
	return nil
}

// Succeed clears the account's failure count after a successful login.
// The address's count stays: one good password does not excuse a
// hundred guesses at other accounts.
func (t *Throttle) Succeed(ctx context.Context, login string) error {
	if err := t.db.WithContext(ctx).Where("key = ?", accountKey(login)).Delete(&store.LoginThrottle{}).Error; err != nil {
		return fmt.Errorf("clear login throttle: %w", err)
	}
	return nil
}

// Unlock clears an account's lock, as an administrator's password reset
// does.
func (t *Throttle) Unlock(ctx context.Context, login string) error { return t.Succeed(ctx, login) }

// Sweep deletes counts that can no longer lock anything.
func (t *Throttle) Sweep(ctx context.Context) error {
	cutoff := t.now().UTC().Add(-t.opts.lockout())
	err := t.db.WithContext(ctx).Where("updated_at < ? AND (locked_until IS NULL OR locked_until < ?)", cutoff, t.now().UTC()).
		Delete(&store.LoginThrottle{}).Error
	if err != nil {
		return fmt.Errorf("sweep login throttle: %w", err)
	}
	return nil
}
