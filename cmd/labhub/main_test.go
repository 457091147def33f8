package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/config"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/store"
)

// labhub runs the command in process with args and returns its output.
func labhub(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestAdminCommands(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		out, err := labhub(t, nil, append(args, "--data-dir", dir)...)
		require.NoError(t, err, out)
		return out
	}
	require.Contains(t, run("migrate"), "schema version")
	require.Contains(t, run("migrate"), "applied 0 migration(s)")

	run("lti11", "add-consumer", "--key", "moodle", "--secret", "s3cret")
	require.Contains(t, run("lti11", "list"), "moodle")

	run("lti13", "add-platform", "--issuer", "https://moodle.example", "--client-id", "abc",
		"--deployment-id", "1", "--deployment-id", "2", "--auth-url", "https://moodle.example/mod/lti/auth.php",
		"--token-url", "https://moodle.example/mod/lti/token.php", "--jwks-url", "https://moodle.example/mod/lti/certs.php")
	out := run("lti13", "list")
	require.Contains(t, out, "https://moodle.example")
	require.Contains(t, out, "1,2")

	run("image", "add", "datascience", "quay.io/jupyter/scipy-notebook:2024-12-02", "--description", "Data course")
	run("image", "add", "datascience", "quay.io/jupyter/scipy-notebook:2025-01-06")
	out = run("image", "list")
	require.Contains(t, out, "2025-01-06")
	require.NotContains(t, out, "2024-12-02", "adding an existing name changes its reference")

	run("user", "add", "Alice", "--admin")
	db, err := store.Open(context.Background(), "", dir, nil)
	require.NoError(t, err)
	defer db.Close()
	var u store.User
	require.NoError(t, db.Where("name = ?", "alice").First(&u).Error)
	require.True(t, u.Admin)

	tok := strings.TrimSpace(run("token", "create", "alice", "--note", "autograder", "--scope", "grades"))
	require.Len(t, tok, 64)
	got, owner, err := auth.New(db, nil, nil).Lookup(context.Background(), tok)
	require.NoError(t, err)
	require.Equal(t, "alice", owner.Name)
	require.Equal(t, []string{"grades"}, auth.Scopes(got))
	_, err = labhub(t, nil, "token", "create", "nobody", "--data-dir", dir)
	require.Error(t, err)
}

func TestAdminCommandErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"lti13", "add-platform", "--issuer", "not a url", "--client-id", "x", "--deployment-id", "1",
			"--auth-url", "https://a/auth", "--jwks-url", "https://a/jwks"},
		{"lti13", "add-platform", "--issuer", "https://a"},
		{"lti11", "add-consumer", "--key", "k"},
		{"image", "add", "only-a-name"},
		{"user", "add", "a/b"},
		{"user", "add", "Bad Name"},
		{"user", "add", "semi;colon"},
		{"serve", "--public-url", "ftp://x"},
		{"serve", "--mem-limit", "lots"},
		{"serve", "--log-level", "loud"},
	} {
		out, err := labhub(t, nil, append(args, "--data-dir", dir)...)
		require.Error(t, err, "labhub %s: %s", strings.Join(args, " "), out)
	}
}

// The old deployment's environment variables keep working, and a flag
// given on the command line wins over them.
func TestOldEnvironmentNames(t *testing.T) {
	var cfg config.Server
	set := config.NewSet(newRoot().Flags())
	config.DeclareCommon(set, &cfg.Common)
	config.DeclareServer(set, &cfg)
	env := map[string]string{
		"LTI_CLIENT_KEY": "old-key", "LTI_SHARED_SECRET": "old-secret", "LTI_USERNAME_KEY": "lis_person_sourcedid",
		"DOCKER_SINGLEUSER_IMAGE": "jupyter/minimal-notebook:hub-4.0.2", "DOCKER_NETWORK_NAME": "jupyterhub-network",
		"DOCKER_NOTEBOOK_DIR": "/home/jovyan/work", "HUB_IP": "jupyterhub", "HOST_NAME": "hub.example.edu",
		"JUPYTERHUB_VERSION": "4.0.2",
	}
	require.NoError(t, set.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	require.NoError(t, cfg.Validate())
	require.Equal(t, "old-key", cfg.LTI11Key)
	require.Equal(t, "old-secret", cfg.LTI11Secret)
	require.Equal(t, "lis_person_sourcedid", cfg.LTI11UsernameKey)
	require.Equal(t, "jupyter/minimal-notebook:hub-4.0.2", cfg.Image)
	require.Equal(t, "jupyterhub-network", cfg.Network)
	require.Equal(t, "/home/jovyan/work", cfg.NotebookDir)
	require.Equal(t, "jupyterhub", cfg.HubIP)
	require.Equal(t, "https://hub.example.edu/", cfg.PublicURL)
	require.Equal(t, "4.0.2", cfg.CompatVersion)

	// Labhub's own name takes precedence over the old one.
	env["LABHUB_IMAGE"] = "new"
	cfg = config.Server{}
	set = config.NewSet(newRoot().Flags())
	config.DeclareServer(set, &cfg)
	require.NoError(t, set.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	require.Equal(t, "new", cfg.Image)
}

func TestSettingsReferenceIsComplete(t *testing.T) {
	out, err := labhub(t, nil, "settings")
	require.NoError(t, err)
	for _, s := range allSettings() {
		require.Contains(t, out, "`--"+s.Flag+"`")
		for _, e := range s.Env {
			require.Contains(t, out, "`"+e+"`")
		}
	}
}

// The LTI Advantage commands: registration invites, platform updates, and
// key rotation.
func TestAdvantageCommands(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		out, err := labhub(t, nil, append(args, "--data-dir", dir)...)
		require.NoError(t, err, out)
		return out
	}
	out := run("lti13", "invite", "https://labhub.example.edu", "--note", "moodle")
	require.Regexp(t, `^https://labhub\.example\.edu/lti/register\?invite=[A-Z2-7]{26}\n`, out)

	out = run("lti13", "add-platform", "--issuer", "https://blackboard.com", "--client-id", "bb",
		"--deployment-id", "a", "--auth-url", "https://developer.blackboard.com/api/v1/gateway/oidcauth",
		"--jwks-url", "https://developer.blackboard.com/jwks", "--origin", "https://school.blackboard.com",
		"--token-url", "https://developer.blackboard.com/api/v1/gateway/oauth2/jwttoken")
	require.Contains(t, out, "/lti/login/1")
	run("lti13", "update", "1", "--unknown-deployments", "add", "--deployment-id", "b")
	out = run("lti13", "list")
	require.Contains(t, out, "a,b")
	require.Contains(t, out, "add")
	require.Contains(t, out, "https://school.blackboard.com")
	_, err := labhub(t, nil, "lti13", "update", "1", "--unknown-deployments", "sometimes", "--data-dir", dir)
	require.Error(t, err)

	out = run("toolkey", "list")
	require.Contains(t, out, "current")
	require.Contains(t, out, "next")
	_, err = labhub(t, nil, "toolkey", "rotate", "--data-dir", dir)
	require.ErrorContains(t, err, "--force", "the next key was published a moment ago")
	require.Contains(t, run("toolkey", "rotate", "--force"), "signs from now on")
	require.Contains(t, run("toolkey", "list"), "retired")
}

// add-consumer takes the secret from --secret, else from LABHUB_LTI11_SECRET
// or the old deployment's LTI_SHARED_SECRET, as the settings table declares.
func TestAddConsumerSecretFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	secret := func(key string) string {
		t.Helper()
		keys, db, err := (&app{common: config.Common{DataDir: dir}}).openState(context.Background())
		require.NoError(t, err)
		defer db.Close()
		s, err := registry.New(db, keys, nil).Secret(context.Background(), key)
		require.NoError(t, err)
		return s
	}
	t.Setenv("LABHUB_LTI11_SECRET", "")
	os.Unsetenv("LABHUB_LTI11_SECRET")
	t.Setenv("LTI_SHARED_SECRET", "")
	os.Unsetenv("LTI_SHARED_SECRET")
	_, err := labhub(t, nil, "lti11", "add-consumer", "--key", "none", "--data-dir", dir)
	require.ErrorContains(t, err, "secret")

	_, err = labhub(t, map[string]string{"LTI_SHARED_SECRET": "old-secret"}, "lti11", "add-consumer", "--key", "old", "--data-dir", dir)
	require.NoError(t, err)
	require.Equal(t, "old-secret", secret("old"))
	_, err = labhub(t, map[string]string{"LABHUB_LTI11_SECRET": "new-secret"}, "lti11", "add-consumer", "--key", "new", "--data-dir", dir)
	require.NoError(t, err)
	require.Equal(t, "new-secret", secret("new"), "Labhub's name wins over the old one")
	_, err = labhub(t, nil, "lti11", "add-consumer", "--key", "flag", "--secret", "flag-secret", "--data-dir", dir)
	require.NoError(t, err)
	require.Equal(t, "flag-secret", secret("flag"), "the flag wins over both")

	out, err := labhub(t, nil, "settings")
	require.NoError(t, err)
	require.Contains(t, out, "| `--secret` | `LABHUB_LTI11_SECRET`, `LTI_SHARED_SECRET` |")
}

// token create refuses lifetimes that would make a never-expiring token by
// mistake, scopes nothing checks, and names nobody has.
func TestTokenCreateErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := labhub(t, nil, "user", "add", "alice", "--data-dir", dir)
	require.NoError(t, err)
	for args, want := range map[string][]string{
		"--expires-in -5h":               {"--expires-in", "-5h"},
		"unknown scope \"bogus\"":        {"--scope", "bogus"},
		"a filter is":                    {"--scope", "grades!course=x"},
		`no user "nobody" (users appear`: nil,
	} {
		user := "alice"
		if want == nil {
			user = "nobody"
		}
		_, err := labhub(t, nil, append([]string{"token", "create", user, "--data-dir", dir}, want...)...)
		require.ErrorContains(t, err, args)
	}
	out, err := labhub(t, nil, "token", "create", "alice", "--scope", "users:activity!user=alice", "--expires-in", "1h",
		"--data-dir", dir)
	require.NoError(t, err, out)
}

// add-platform refuses a platform that would refuse every launch or could
// not send grades, and says when it replaced an earlier registration; so
// does add-consumer for a replaced secret.
func TestRegistrationCommandsSayWhatTheyDid(t *testing.T) {
	dir := t.TempDir()
	platform := []string{"lti13", "add-platform", "--issuer", "https://moodle.example", "--client-id", "abc",
		"--auth-url", "https://moodle.example/mod/lti/auth.php", "--jwks-url", "https://moodle.example/mod/lti/certs.php",
		"--data-dir", dir}
	_, err := labhub(t, nil, append(platform, "--deployment-id", "", "--token-url", "https://moodle.example/token")...)
	require.ErrorContains(t, err, "at least one deployment id")
	_, err = labhub(t, nil, append(platform, "--deployment-id", "1")...)
	require.ErrorContains(t, err, "token-url")
	platform = append(platform, "--token-url", "https://moodle.example/mod/lti/token.php")
	out, err := labhub(t, nil, append(platform, "--deployment-id", "1")...)
	require.NoError(t, err, out)
	require.Contains(t, out, "abc saved")
	out, err = labhub(t, nil, append(platform, "--deployment-id", "2")...)
	require.NoError(t, err, out)
	require.Contains(t, out, "abc updated")
	out, err = labhub(t, nil, append(platform, "--client-id", "def", "--unknown-deployments", "add")...)
	require.NoError(t, err, out)

	consumer := []string{"lti11", "add-consumer", "--key", "k1", "--secret", "s1", "--data-dir", dir}
	out, err = labhub(t, nil, consumer...)
	require.NoError(t, err, out)
	require.Contains(t, out, "k1 saved")
	out, err = labhub(t, nil, consumer...)
	require.NoError(t, err, out)
	require.Contains(t, out, "secret was replaced")
}

// add-platform and invite print addresses under the public URL serve's
// settings give, and invite takes only an http(s) URL.
func TestCommandsUsePublicURL(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"LABHUB_PUBLIC_URL": "https://labhub.example.edu/"}
	out, err := labhub(t, env, "lti13", "invite", "--data-dir", dir)
	require.NoError(t, err, out)
	require.Regexp(t, `^https://labhub\.example\.edu/lti/register\?invite=`, out)
	out, err = labhub(t, nil, "lti13", "add-platform", "--issuer", "https://moodle.example", "--client-id", "abc",
		"--deployment-id", "1", "--auth-url", "https://moodle.example/auth", "--token-url", "https://moodle.example/token",
		"--jwks-url", "https://moodle.example/certs", "--public-url", "https://hub.example.org/labs", "--data-dir", dir)
	require.NoError(t, err, out)
	require.Contains(t, out, "https://hub.example.org/labs/lti/login/1\n")
	for _, bad := range []string{"notaurl", "ftp://labhub.example.edu/"} {
		_, err = labhub(t, nil, "lti13", "invite", bad, "--data-dir", dir)
		require.ErrorContains(t, err, "absolute http or https URL", bad)
	}
}

// Every flag's value name in the help is a word: pflag takes a back-quoted
// word of the usage for it, which the settings' usages must not feed it.
func TestHelpValueNames(t *testing.T) {
	root := newRoot()
	serve, _, err := root.Find([]string{"serve"})
	require.NoError(t, err)
	word := regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9]*$`)
	var n int
	check := func(f *pflag.Flag) {
		n++
		name, _ := pflag.UnquoteUsage(f)
		if name != "" {
			require.Regexp(t, word, name, "--%s", f.Name)
		}
	}
	serve.Flags().VisitAll(check)
	serve.InheritedFlags().VisitAll(check)
	require.Greater(t, n, 50)
	out, err := labhub(t, nil, "serve", "--help")
	require.NoError(t, err)
	require.Contains(t, out, "--grade-poll duration")
	require.Contains(t, out, "'labhub grade'")
}

// Commands check their input before opening the state, so a refused
// command creates no data directory, and a command that creates one says
// so (serve, demo and migrate create one as a matter of course).
func TestNewDataDirectory(t *testing.T) {
	t.Setenv("LABHUB_LTI11_SECRET", "")
	t.Setenv("LABHUB_PASSWORD", "")
	for _, args := range [][]string{
		{"lti11", "add-consumer", "--key", "k1"},
		{"lti13", "add-platform", "--issuer", "not a url", "--client-id", "x", "--deployment-id", "1",
			"--auth-url", "https://a/auth", "--token-url", "https://a/token", "--jwks-url", "https://a/jwks"},
		{"image", "add", "Bad Name!", "x"},
		{"image", "add", "ok", "ref:1", "--mem-max", "lots"},
		{"user", "add", "a/b"},
		{"account", "add", "Two Words"},
		{"token", "create", "alice", "--scope", "bogus"},
		{"lti13", "update", "1", "--unknown-deployments", "sometimes"},
		{"lti13", "invite", "notaurl"},
	} {
		dir := filepath.Join(t.TempDir(), "new")
		_, err := labhub(t, nil, append(args, "--data-dir", dir)...)
		require.Error(t, err, args)
		require.NoDirExists(t, dir, "labhub %s", strings.Join(args, " "))
	}
	dir := filepath.Join(t.TempDir(), "new")
	out, err := labhub(t, nil, "lti11", "list", "--data-dir", dir)
	require.NoError(t, err, out)
	require.Contains(t, out, "created a new data directory at "+dir+"\n")
	out, err = labhub(t, nil, "lti11", "list", "--data-dir", dir)
	require.NoError(t, err, out)
	require.NotContains(t, out, "new data directory")
	dir = filepath.Join(t.TempDir(), "new")
	out, err = labhub(t, nil, "migrate", "--data-dir", dir)
	require.NoError(t, err, out)
	require.NotContains(t, out, "new data directory")
}

// Registrations are removed by id or key, only with --yes.
func TestRemoveRegistrationCommands(t *testing.T) {
	dir := t.TempDir()
	out, err := labhub(t, nil, "lti13", "add-platform", "--issuer", "https://moodle.example", "--client-id", "abc",
		"--deployment-id", "1", "--auth-url", "https://moodle.example/auth", "--token-url", "https://moodle.example/token",
		"--jwks-url", "https://moodle.example/certs", "--data-dir", dir)
	require.NoError(t, err, out)
	_, err = labhub(t, nil, "lti11", "add-consumer", "--key", "k1", "--secret", "s1", "--data-dir", dir)
	require.NoError(t, err)

	_, err = labhub(t, nil, "lti13", "remove", "1", "--data-dir", dir)
	require.ErrorContains(t, err, "--yes")
	out, err = labhub(t, nil, "lti13", "remove", "1", "--yes", "--data-dir", dir)
	require.NoError(t, err, out)
	require.Contains(t, out, "platform 1 removed")
	_, err = labhub(t, nil, "lti13", "remove", "1", "--yes", "--data-dir", dir)
	require.ErrorContains(t, err, "no LTI 1.3 platform with id 1")
	out, err = labhub(t, nil, "lti13", "list", "--data-dir", dir)
	require.NoError(t, err)
	require.NotContains(t, out, "moodle.example")

	out, err = labhub(t, nil, "lti11", "remove", "k1", "--yes", "--data-dir", dir)
	require.NoError(t, err, out)
	require.Contains(t, out, "consumer k1 removed")
	_, err = labhub(t, nil, "lti11", "remove", "k1", "--yes", "--data-dir", dir)
	require.ErrorContains(t, err, `no LTI 1.1 consumer with key "k1"`)
}
