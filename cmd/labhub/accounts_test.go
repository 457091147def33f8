package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/config"
	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/seal"
	"github.com/labhub/labhub/store"
)

func serverConfig(t *testing.T, env map[string]string) (*config.Server, error) {
	t.Helper()
	var cfg config.Server
	set := config.NewSet(newRoot().Flags())
	config.DeclareCommon(set, &cfg.Common)
	config.DeclareServer(set, &cfg)
	require.NoError(t, set.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	return &cfg, cfg.Validate()
}

// The old deployment's AUTH_MODE and LDAP_* variables keep working.
func TestOldLoginEnvironment(t *testing.T) {
	cfg, err := serverConfig(t, map[string]string{
		"AUTH_MODE": "ldap", "LDAP_server_address": "ldap.example.edu", "LDAP_server_port": "636",
		"LDAP_tls_strategy":          "on_connect",
		"LDAP_bind_dn_template":      "uid={username},ou=students,dc=example,dc=edu; uid={username},ou=staff,dc=example,dc=edu",
		"LDAP_lookup_dn_search_user": "cn=reader,dc=example,dc=edu", "LDAP_lookup_dn_search_password": "pw",
		"LDAP_user_search_base": "dc=example,dc=edu", "LDAP_allowed_groups": "cn=a,dc=example,dc=edu;cn=b\\, c,dc=example,dc=edu",
	})
	require.NoError(t, err)
	a := cfg.Accounts
	require.True(t, a.LDAP)
	require.False(t, a.Native)
	require.Equal(t, "ldap.example.edu", a.LDAPAddress)
	require.Equal(t, 636, a.LDAPPort)
	require.Equal(t, "ldaps", a.LDAPTLS)
	require.Equal(t, []string{"uid={username},ou=students,dc=example,dc=edu", "uid={username},ou=staff,dc=example,dc=edu"}, a.BindTemplates())
	require.Equal(t, []string{"cn=a,dc=example,dc=edu", `cn=b\, c,dc=example,dc=edu`}, a.AllowedGroups())
	require.False(t, a.LDAPLookupDN, "templates are given, so no lookup")
	require.Equal(t, "cn=reader,dc=example,dc=edu", a.LDAPSearchUser)

	cfg, err = serverConfig(t, map[string]string{"AUTH_MODE": "ldap", "LDAP_server_address": "dc1",
		"LDAP_lookup_dn_search_user": "CN=svc,DC=ad", "LDAP_user_search_base": "DC=ad", "LDAP_user_attribute": "sAMAccountName"})
	require.NoError(t, err)
	require.True(t, cfg.Accounts.LDAPLookupDN, "a search user without templates looks DNs up, as Active Directory needs")

	cfg, err = serverConfig(t, map[string]string{"LABHUB_AUTH_MODE": "native,ldap", "AUTH_MODE": "lti", "LDAP_server_address": "h"})
	require.NoError(t, err)
	require.True(t, cfg.Accounts.Native && cfg.Accounts.LDAP, "Labhub's own name wins")

	cfg, err = serverConfig(t, nil)
	require.NoError(t, err)
	require.False(t, cfg.Accounts.Native || cfg.Accounts.LDAP, "LTI only by default")
	require.Equal(t, "root", cfg.Accounts.Blocked)
	require.Equal(t, 10, cfg.Accounts.PasswordMinLen)

	for _, env := range []map[string]string{
		{"AUTH_MODE": "kerberos"},
		{"AUTH_MODE": "ldap"},
		{"LABHUB_SIGNUP": "maybe"},
		{"LABHUB_LINK_ACCOUNTS": "always"},
		{"LDAP_tls_strategy": "sometimes"},
		{"LDAP_valid_username_regex": "("},
	} {
		_, err := serverConfig(t, env)
		require.Error(t, err, "%v", env)
	}
}

func TestAccountCommands(t *testing.T) {
	dir := t.TempDir()
	out, err := labhub(t, map[string]string{"LABHUB_PASSWORD": "tangerine-orbit-lantern"}, "account", "add", "Alice", "--admin", "--data-dir", dir)
	require.NoError(t, err, out)
	require.Contains(t, out, "account alice created (admin: true)")
	out, err = labhub(t, map[string]string{"LABHUB_PASSWORD": "password123"}, "account", "add", "bob", "--data-dir", dir)
	require.Error(t, err, "the password policy applies: %s", out)
	out, err = labhub(t, map[string]string{"LABHUB_PASSWORD": "marmalade-quartz-heron"}, "account", "reset-password", "alice", "--data-dir", dir)
	require.NoError(t, err, out)
	out, err = labhub(t, nil, "account", "list", "--data-dir", dir)
	require.NoError(t, err)
	require.Contains(t, out, "alice")

	db, err := store.Open(context.Background(), "", dir, nil)
	require.NoError(t, err)
	defer db.Close()
	var u store.User
	require.NoError(t, db.Where("name = ?", "alice").First(&u).Error)
	require.True(t, u.Admin)
}

// The userlist's administrators become administrators when the hub starts.
func TestUserlistAdminsAtStart(t *testing.T) {
	db := testutil.SQLite(t)
	require.NoError(t, db.Create(&store.User{Name: "teacher"}).Error)
	path := filepath.Join(t.TempDir(), "userlist")
	require.NoError(t, os.WriteFile(path, []byte("teacher admin\nstudent\n"), 0o600))
	keys, err := seal.New("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	require.NoError(t, err)
	cfg, err := serverConfig(t, map[string]string{"AUTH_MODE": "native", "LABHUB_USERLIST": path})
	require.NoError(t, err)
	s, err := newAccounts(context.Background(), &cfg.Accounts, db, keys, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.True(t, s.Native())
	var u store.User
	require.NoError(t, db.Where("name = ?", "teacher").First(&u).Error)
	require.True(t, u.Admin)
	require.False(t, s.Policy().Allowed("stranger"))

	cfg.Accounts.Userlist = filepath.Join(t.TempDir(), "missing")
	_, err = newAccounts(context.Background(), &cfg.Accounts, db, keys, nil)
	require.Error(t, err)
}

// Commands that find nothing say what they looked for, before asking for
// anything.
func TestCommandsSayWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("LABHUB_PASSWORD", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"account", "reset-password", "nobody"}, `no account "nobody" (see labhub account list)`},
		{[]string{"account", "approve", "nobody"}, `no account "nobody" (see labhub account list)`},
		{[]string{"lti13", "update", "99", "--unknown-deployments", "add"}, "no LTI 1.3 platform with id 99 (see labhub lti13 list)"},
		{[]string{"lti13", "update", "1"}, "nothing to change: give --unknown-deployments, --origin or --deployment-id"},
	} {
		_, err := labhub(t, nil, append(c.args, "--data-dir", dir)...)
		require.EqualError(t, err, c.want, c.args)
	}
}
