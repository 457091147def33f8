package account_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/account"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/ldapauth"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/store"
)

func launch(subject, username, email string) *lti.Launch {
	return &lti.Launch{Version: "1.3", MessageType: "LtiResourceLinkRequest", Subject: subject,
		Username: username, Email: email, Context: lti.Context{ID: "c1", Title: "Course", Label: "C1"},
		ResourceLink: lti.ResourceLink{ID: "r1"}}
}

// LDAP logins against a real slapd, and how the link rule joins them to
// people who arrive through the LMS.
func TestLDAPLoginAndLinking(t *testing.T) {
	srv := testutil.StartSlapd(t)
	dir, err := ldapauth.New(ldapauth.Config{Address: srv.Host, Port: srv.Port, CAFile: srv.CAFile,
		BindDNTemplates: []string{"uid={username},ou=people," + testutil.SlapdBase},
		AllowedGroups:   []string{testutil.SlapdStudentsGroup, testutil.SlapdStaffGroup}})
	require.NoError(t, err)
	ctx := context.Background()

	setup := func(t *testing.T, rule account.LinkRule) (*store.DB, *account.Service, *course.Service) {
		db := testutil.SQLite(t)
		s := newService(t, db, &clock{t: time.Now()}, account.Options{LDAP: dir, Link: rule,
			Policy: &account.Policy{Blocked: account.ParseNames("root")}})
		cs := course.NewService(db, nil)
		cs.Link = s.LinkLTI
		return db, s, cs
	}

	t.Run("login, refusals and lockout", func(t *testing.T) {
		_, s, _ := setup(t, account.LinkNone)
		l, err := s.LoginLDAP(ctx, "alice", testutil.SlapdAlicePass, "192.0.2.1")
		require.NoError(t, err)
		require.Equal(t, "alice", l.User.Name)
		require.Equal(t, "alice@example.org", l.User.Email)
		again, err := s.LoginLDAP(ctx, "Alice", testutil.SlapdAlicePass, "192.0.2.1")
		require.NoError(t, err)
		require.Equal(t, l.User.ID, again.User.ID, "the same directory user is the same Labhub user")

		_, err = s.LoginLDAP(ctx, "bob", testutil.SlapdBobPass, "192.0.2.1")
		require.NoError(t, err, "non-ASCII password")
		_, err = s.LoginLDAP(ctx, "carol", testutil.SlapdCarolPass, "192.0.2.1")
		require.ErrorIs(t, err, account.ErrBadCredentials, "carol is in no allowed group")
		_, err = s.LoginLDAP(ctx, "alice", "", "192.0.2.1")
		require.ErrorIs(t, err, account.ErrBadCredentials)
		_, err = s.LoginLDAP(ctx, "alice", "wrong-password", "192.0.2.1")
		require.ErrorIs(t, err, account.ErrBadCredentials)
		var le *account.LockedError
		_, err = s.LoginLDAP(ctx, "alice", "wrong-password", "192.0.2.1")
		require.ErrorAs(t, err, &le)
		_, err = s.LoginLDAP(ctx, "alice", testutil.SlapdAlicePass, "192.0.2.1")
		require.ErrorAs(t, err, &le, "three failures lock the directory account too")
	})

	t.Run("blocked names never log in", func(t *testing.T) {
		db := testutil.SQLite(t)
		s := newService(t, db, &clock{t: time.Now()}, account.Options{LDAP: dir,
			Policy: &account.Policy{Blocked: account.ParseNames("alice")}})
		_, err := s.LoginLDAP(ctx, "alice", testutil.SlapdAlicePass, "")
		require.ErrorIs(t, err, account.ErrBadCredentials)
	})

	t.Run("no rule keeps LMS and directory users apart", func(t *testing.T) {
		_, s, cs := setup(t, account.LinkNone)
		e, err := cs.RecordLaunch(ctx, "lti13:1", launch("42", "alice", "alice@example.org"))
		require.NoError(t, err)
		l, err := s.LoginLDAP(ctx, "alice", testutil.SlapdAlicePass, "")
		require.NoError(t, err)
		require.NotEqual(t, e.User.ID, l.User.ID)
		require.Equal(t, "alice-2", l.User.Name)
	})

	t.Run("username rule joins an LMS user who came first", func(t *testing.T) {
		_, s, cs := setup(t, account.LinkUsername)
		e, err := cs.RecordLaunch(ctx, "lti13:1", launch("42", "alice", ""))
		require.NoError(t, err)
		l, err := s.LoginLDAP(ctx, "alice", testutil.SlapdAlicePass, "")
		require.NoError(t, err)
		require.Equal(t, e.User.ID, l.User.ID)
		// A second platform's "alice" is someone else: never joined.
		other, err := cs.RecordLaunch(ctx, "lti13:2", launch("7", "alice", ""))
		require.NoError(t, err)
		require.NotEqual(t, e.User.ID, other.User.ID)
	})

	t.Run("username rule joins an LMS launch after a directory login", func(t *testing.T) {
		_, s, cs := setup(t, account.LinkUsername)
		l, err := s.LoginLDAP(ctx, "alice", testutil.SlapdAlicePass, "")
		require.NoError(t, err)
		e, err := cs.RecordLaunch(ctx, "lti13:1", launch("42", "alice", ""))
		require.NoError(t, err)
		require.Equal(t, l.User.ID, e.User.ID)
		require.False(t, e.NewUser && e.User.ID != l.User.ID)
	})

	t.Run("username rule never joins a native account", func(t *testing.T) {
		db, s, _ := setup(t, account.LinkUsername)
		native := newService(t, db, &clock{t: time.Now()}, account.Options{Signup: account.SignupOpen})
		a, err := native.SignUp(ctx, account.SignupInput{Username: "alice", Password: goodPassword, Confirm: goodPassword}, "")
		require.NoError(t, err)
		l, err := s.LoginLDAP(ctx, "alice", testutil.SlapdAlicePass, "")
		require.NoError(t, err)
		require.NotEqual(t, a.UserID, l.User.ID, "anyone may sign up as alice; the directory's alice must not get that account")
	})

	t.Run("email rule", func(t *testing.T) {
		_, s, cs := setup(t, account.LinkEmail)
		e, err := cs.RecordLaunch(ctx, "lti13:1", launch("42", "a.example", "Alice@Example.org"))
		require.NoError(t, err)
		l, err := s.LoginLDAP(ctx, "alice", testutil.SlapdAlicePass, "")
		require.NoError(t, err)
		require.Equal(t, e.User.ID, l.User.ID, "joined by email, whatever the usernames")
		// bob's directory email matches nobody: a user of his own.
		_, err = cs.RecordLaunch(ctx, "lti13:1", launch("43", "bob", "robert@example.org"))
		require.NoError(t, err)
		b, err := s.LoginLDAP(ctx, "bob", testutil.SlapdBobPass, "")
		require.NoError(t, err)
		require.Equal(t, "bob-2", b.User.Name)
	})

	t.Run("directory down is not a failed login", func(t *testing.T) {
		down, err := ldapauth.New(ldapauth.Config{Address: "127.0.0.1", Port: 1, TLS: ldapauth.TLSPlain,
			BindDNTemplates: []string{"uid={username}"}, Timeout: time.Second})
		require.NoError(t, err)
		db := testutil.SQLite(t)
		s := newService(t, db, &clock{t: time.Now()}, account.Options{LDAP: down})
		_, err = s.LoginLDAP(ctx, "alice", "password", "")
		require.ErrorIs(t, err, account.ErrDirectoryDown)
		var n int64
		require.NoError(t, db.Model(&store.LoginThrottle{}).Count(&n).Error)
		require.Zero(t, n)
	})
}
