package ldapauth_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/ldapauth"
)

const people = "ou=people," + testutil.SlapdBase

func newAuth(t *testing.T, cfg ldapauth.Config) *ldapauth.Authenticator {
	t.Helper()
	a, err := ldapauth.New(cfg)
	require.NoError(t, err)
	return a
}

// sameDN compares DNs as LDAP does: the server may write "\2C" for "\,".
func sameDN(t *testing.T, want, got string) {
	t.Helper()
	w, err := ldap.ParseDN(want)
	require.NoError(t, err)
	g, err := ldap.ParseDN(got)
	require.NoError(t, err)
	require.True(t, w.Equal(g), "want DN %s, got %s", want, got)
}

func refused(t *testing.T, a *ldapauth.Authenticator, login, password string) {
	t.Helper()
	_, err := a.Authenticate(context.Background(), login, password)
	require.Error(t, err, "%q must be refused", login)
	require.True(t, errors.Is(err, ldapauth.ErrInvalidCredentials), "%q: want a refusal, got %v", login, err)
}

// One slapd serves every case: starting it costs more than the cases.
func TestDirectory(t *testing.T) {
	srv := testutil.StartSlapd(t)
	ctx := context.Background()
	base := ldapauth.Config{Address: srv.Host, Port: srv.Port, TLS: ldapauth.TLSStartTLS, CAFile: srv.CAFile,
		Timeout: 5 * time.Second}

	t.Run("bind DN templates are tried in order", func(t *testing.T) {
		cfg := base
		cfg.BindDNTemplates = []string{"uid={username},ou=nowhere," + testutil.SlapdBase, "", "uid={username}," + people}
		a := newAuth(t, cfg)
		res, err := a.Authenticate(ctx, "alice", testutil.SlapdAlicePass)
		require.NoError(t, err)
		require.Equal(t, "alice", res.Username)
		require.Equal(t, "uid=alice,"+people, res.DN)
		require.Equal(t, "alice@example.org", res.Email)
		refused(t, a, "alice", "wrong-password")
		refused(t, a, "nobody", "whatever-password")
	})

	t.Run("blank password never binds", func(t *testing.T) {
		cfg := base
		cfg.BindDNTemplates = []string{"uid={username}," + people}
		a := newAuth(t, cfg)
		// slapd accepts a bind with a DN and no password as anonymous
		// (RFC 4513 unauthenticated bind): it must never get that far.
		for _, pw := range []string{"", " ", "\t\n"} {
			refused(t, a, "alice", pw)
		}
	})

	t.Run("non-ASCII password", func(t *testing.T) {
		cfg := base
		cfg.BindDNTemplates = []string{"uid={username}," + people}
		a := newAuth(t, cfg)
		_, err := a.Authenticate(ctx, "bob", testutil.SlapdBobPass)
		require.NoError(t, err)
		refused(t, a, "bob", "Passworth-u-bob")
	})

	t.Run("DN escaping per RFC 4514", func(t *testing.T) {
		cfg := base
		cfg.BindDNTemplates = []string{"cn={username}," + people}
		a := newAuth(t, cfg)
		// The comma in the name is escaped, so it binds "cn=Doe\, John,...".
		res, err := a.Authenticate(ctx, "Doe, John", testutil.SlapdDoePass)
		require.NoError(t, err)
		sameDN(t, testutil.SlapdDoeDN, res.DN)
		// A name that tries to add RDNs cannot reach alice's entry.
		cfg.BindDNTemplates = []string{"uid={username}," + people}
		a = newAuth(t, cfg)
		refused(t, a, "alice,ou=people,dc=example,dc=org", testutil.SlapdAlicePass)
		refused(t, a, "alice+cn=x", testutil.SlapdAlicePass)
	})

	t.Run("lookup DN with a search account and filter escaping per RFC 4515", func(t *testing.T) {
		cfg := base
		cfg.LookupDN, cfg.SearchUser, cfg.SearchPassword = true, testutil.SlapdSearchDN, testutil.SlapdSearchPass
		cfg.UserSearchBase, cfg.UserAttribute = testutil.SlapdBase, "uid"
		a := newAuth(t, cfg)
		res, err := a.Authenticate(ctx, "jdoe", testutil.SlapdDoePass)
		require.NoError(t, err)
		sameDN(t, testutil.SlapdDoeDN, res.DN) // the looked-up DN has a comma
		require.Equal(t, "jdoe", res.Username)
		// "*" would match every uid unescaped; "a*" would match alice.
		refused(t, a, "*", testutil.SlapdAlicePass)
		refused(t, a, "a*", testutil.SlapdAlicePass)
		refused(t, a, "alice)(uid=*", testutil.SlapdAlicePass)
		refused(t, a, "alice", testutil.SlapdDoePass)

		cfg.UsernameAttribute = "cn"
		a = newAuth(t, cfg)
		res, err = a.Authenticate(ctx, "jdoe", testutil.SlapdDoePass)
		require.NoError(t, err)
		require.Equal(t, "Doe, John", res.Username, "the username attribute names the user")

		cfg.SearchPassword = "wrong"
		a = newAuth(t, cfg)
		_, err = a.Authenticate(ctx, "jdoe", testutil.SlapdDoePass)
		require.Error(t, err)
		require.False(t, errors.Is(err, ldapauth.ErrInvalidCredentials), "a broken search account is an outage, not a refusal")
	})

	t.Run("search filter must match exactly one entry", func(t *testing.T) {
		cfg := base
		cfg.BindDNTemplates = []string{"uid={username}," + people}
		cfg.UserSearchBase, cfg.UserAttribute = people, "uid"
		cfg.SearchFilter = "(&({userattr}={username})(mail=*))"
		a := newAuth(t, cfg)
		_, err := a.Authenticate(ctx, "alice", testutil.SlapdAlicePass)
		require.NoError(t, err)
		refused(t, a, "carol", testutil.SlapdCarolPass) // carol has no mail
	})

	t.Run("allowed groups by member, uniqueMember, memberUid and memberOf", func(t *testing.T) {
		cfg := base
		cfg.LookupDN, cfg.SearchUser, cfg.SearchPassword = true, testutil.SlapdSearchDN, testutil.SlapdSearchPass
		cfg.UserSearchBase, cfg.UserAttribute = testutil.SlapdBase, "uid"
		cfg.AllowedGroups = []string{testutil.SlapdStudentsGroup, testutil.SlapdStaffGroup, testutil.SlapdPosixGroup}
		a := newAuth(t, cfg)
		for login, pw := range map[string]string{"alice": testutil.SlapdAlicePass, "jdoe": testutil.SlapdDoePass,
			"bob": testutil.SlapdBobPass, "dave": testutil.SlapdDavePass} {
			res, err := a.Authenticate(ctx, login, pw)
			require.NoError(t, err, login)
			require.Len(t, res.Groups, 1, login)
		}
		refused(t, a, "carol", testutil.SlapdCarolPass)

		// Nobody but the manager may read the hidden group: alice is found a
		// member only through her memberOf, which the overlay keeps.
		cfg.AllowedGroups = []string{testutil.SlapdHiddenGroup}
		a = newAuth(t, cfg)
		res, err := a.Authenticate(ctx, "alice", testutil.SlapdAlicePass)
		require.NoError(t, err)
		require.Equal(t, []string{testutil.SlapdHiddenGroup}, res.Groups)
		refused(t, a, "jdoe", testutil.SlapdDoePass)
	})

	t.Run("username regex is checked before the server", func(t *testing.T) {
		cfg := base
		cfg.BindDNTemplates = []string{"uid={username}," + people}
		cfg.ValidUsername = regexp.MustCompile(`^[a-z][.a-z0-9_-]*$`)
		a := newAuth(t, cfg)
		refused(t, a, "Alice", testutil.SlapdAlicePass)
		_, err := a.Authenticate(ctx, "alice", testutil.SlapdAlicePass)
		require.NoError(t, err)
	})

	t.Run("LDAPS", func(t *testing.T) {
		cfg := base
		cfg.TLS, cfg.Port = ldapauth.TLSLDAPS, srv.TLSPort
		cfg.BindDNTemplates = []string{"uid={username}," + people}
		_, err := newAuth(t, cfg).Authenticate(ctx, "alice", testutil.SlapdAlicePass)
		require.NoError(t, err)
	})

	t.Run("plain", func(t *testing.T) {
		cfg := base
		cfg.TLS, cfg.CAFile = ldapauth.TLSPlain, ""
		cfg.BindDNTemplates = []string{"uid={username}," + people}
		_, err := newAuth(t, cfg).Authenticate(ctx, "alice", testutil.SlapdAlicePass)
		require.NoError(t, err)
	})

	t.Run("TLS is verified against the CA", func(t *testing.T) {
		for _, mode := range []string{ldapauth.TLSStartTLS, ldapauth.TLSLDAPS} {
			cfg := base
			cfg.TLS, cfg.CAFile = mode, "" // the system CAs do not know the test CA
			if mode == ldapauth.TLSLDAPS {
				cfg.Port = srv.TLSPort
			}
			cfg.BindDNTemplates = []string{"uid={username}," + people}
			_, err := newAuth(t, cfg).Authenticate(ctx, "alice", testutil.SlapdAlicePass)
			require.Error(t, err, mode)
			require.False(t, errors.Is(err, ldapauth.ErrInvalidCredentials))
			require.True(t, strings.Contains(err.Error(), "certificate"), "%s: %v", mode, err)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []ldapauth.Config{
		{},
		{Address: "h"},
		{Address: "h", TLS: "sometimes", BindDNTemplates: []string{"uid={username}"}},
		{Address: "h", LookupDN: true},
		{Address: "h", BindDNTemplates: []string{"uid={username}"}, SearchFilter: "(x=y)"},
		{Address: "h", BindDNTemplates: []string{"uid={username}"}, AllowedGroups: []string{"not a dn"}},
		{Address: "h", BindDNTemplates: []string{"uid={username}"}, CAFile: "/nonexistent"},
	} {
		_, err := ldapauth.New(cfg)
		require.Error(t, err, "%+v", cfg)
	}
}

func TestUnreachableIsNotARefusal(t *testing.T) {
	a := newAuth(t, ldapauth.Config{Address: "127.0.0.1", Port: 1, TLS: ldapauth.TLSPlain,
		BindDNTemplates: []string{"uid={username}"}, Timeout: time.Second})
	_, err := a.Authenticate(context.Background(), "alice", "password")
	require.Error(t, err)
	require.False(t, errors.Is(err, ldapauth.ErrInvalidCredentials))
}
