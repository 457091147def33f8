package account

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/labhub/labhub/ldapauth"
	"github.com/labhub/labhub/store"
)

// LoginLDAP checks a login name and password against the directory and
// returns the Labhub user they belong to, creating it (or joining it to an
// LMS user by the link rule) on the first login.
func (s *Service) LoginLDAP(ctx context.Context, login, password, addr string) (*Login, error) {
	const method = store.ProviderLDAP
	if s.opts.LDAP == nil {
		return nil, ErrBadCredentials
	}
	name := Normalize(login)
	if err := s.precheck(ctx, method, name, addr); err != nil {
		return nil, err
	}
	if name == "" || len(password) > maxPasswordBytes {
		return nil, s.fail(ctx, method, name, addr, "empty or oversized field", ErrBadCredentials)
	}
	if !s.opts.Policy.Allowed(name) {
		return nil, s.fail(ctx, method, name, addr, "blocked or not in userlist", ErrBadCredentials)
	}
	// The directory sees the name as typed (after trimming): some
	// directories compare case-sensitively.
	res, err := s.opts.LDAP.Authenticate(ctx, strings.TrimSpace(login), password)
	if errors.Is(err, ldapauth.ErrInvalidCredentials) {
		return nil, s.fail(ctx, method, name, addr, err.Error(), ErrBadCredentials)
	}
	if err != nil {
		s.log.Error("failed to reach ldap server", "user", name, "remote_addr", addr, "error", err)
		return nil, fmt.Errorf("%w: %w", ErrDirectoryDown, err)
	}
	username := Normalize(res.Username)
	if username == "" || !s.opts.Policy.Allowed(username) {
		return nil, s.fail(ctx, method, name, addr, "directory username blocked or not in userlist", ErrBadCredentials)
	}
	var u store.User
	for attempt := 0; attempt < 3; attempt++ {
		u, err = s.ldapUser(ctx, username, res)
		if !store.IsUniqueViolation(err) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	l := &Login{User: u, Method: method}
	if err := s.succeed(ctx, l, name, addr); err != nil {
		return nil, err
	}
	return l, nil
}

// ldapUser finds or creates the user of a directory login.
func (s *Service) ldapUser(ctx context.Context, username string, res *ldapauth.Result) (store.User, error) {
	var u store.User
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := s.opts.Now().UTC()
		var id store.Identity
		err := tx.Where("provider = ? AND subject = ?", store.ProviderLDAP, username).First(&id).Error
		if err == nil {
			if err := tx.First(&u, id.UserID).Error; err != nil {
				return fmt.Errorf("load user of identity: %w", err)
			}
			if res.Email != "" && u.Email == "" {
				return tx.Model(&u).Update("email", res.Email).Error
			}
			return nil
		}
		if !errors.Is(err, gorm.ErrRecordNotFound) {
			return fmt.Errorf("look up identity: %w", err)
		}
		linked, err := s.linkTarget(tx, username, res.Email, store.ProviderLDAP)
		if err != nil {
			return err
		}
		if linked != nil {
			u = *linked
			s.log.Info("linked directory login to lms user", "user", u.Name, "ldap_user", username, "rule", s.opts.Link)
		} else {
			name, err := uniqueName(tx, username)
			if err != nil {
				return err
			}
			u = store.User{Name: name, Email: res.Email}
			if err := tx.Create(&u).Error; err != nil {
				return fmt.Errorf("create user %s: %w", name, err)
			}
		}
		id = store.Identity{UserID: u.ID, Provider: store.ProviderLDAP, Subject: username, CreatedAt: now, LastLogin: now}
		if err := tx.Create(&id).Error; err != nil {
			return fmt.Errorf("create identity: %w", err)
		}
		return nil
	})
	return u, err
}

// linkTarget returns the existing user a new identity of provider joins
// under the link rule, or nil. Directory logins join only users that
// arrived by LTI, and LTI launches only users that arrived by LDAP, and
// never one that already has an identity of the same kind: a native
// account, which anyone may sign up for, is never joined.
func (s *Service) linkTarget(tx *gorm.DB, username, email, provider string) (*store.User, error) {
	other := "lti%"
	if provider != store.ProviderLDAP {
		other = store.ProviderLDAP
	}
	q := tx.Model(&store.User{})
	switch s.opts.Link {
	case LinkUsername:
		q = q.Where("name = ?", username)
	case LinkEmail:
		if lowerEmail(email) == "" {
			return nil, nil
		}
		q = q.Where("LOWER(email) = ?", lowerEmail(email))
	default:
		return nil, nil
	}
	var cands []store.User
	err := q.Where("id IN (?)", tx.Model(&store.Identity{}).Select("user_id").Where("provider LIKE ?", other)).
		Where("id NOT IN (?)", tx.Model(&store.Identity{}).Select("user_id").Where("provider = ? OR provider LIKE ?",
			store.ProviderNative, sameKind(provider))).
		Limit(2).Find(&cands).Error
	if err != nil {
		return nil, fmt.Errorf("find user to link: %w", err)
	}
	if len(cands) != 1 {
		// None, or an email several users share: no rule picks one.
		return nil, nil
	}
	return &cands[0], nil
}

func sameKind(provider string) string {
	if provider == store.ProviderLDAP {
		return store.ProviderLDAP
	}
	return "lti%"
}

// LinkLTI is the hook an LTI launch calls before it creates a new user: it
// returns the directory user the launch's person is under the link rule,
// or nil for a new user. tx is the launch's transaction.
func (s *Service) LinkLTI(tx *gorm.DB, username, email string) (*store.User, error) {
	if s.opts.LDAP == nil || s.opts.Link == LinkNone {
		return nil, nil
	}
	return s.linkTarget(tx, Normalize(username), email, "lti")
}
