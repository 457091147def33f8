package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
)

// copyFile copies a repository file into dir.
func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(to), 0o755))
	require.NoError(t, os.WriteFile(to, b, 0o644))
}

// The compose file is valid with the documented .env, and the two agree:
// every variable the compose file reads is documented in .env.example, and
// every variable .env.example documents is read by the compose file or is
// one of Labhub's settings.
func TestComposeFileAndEnvExample(t *testing.T) {
	compose := testutil.LookPath(t, "docker-compose")
	dir := t.TempDir()
	copyFile(t, "../docker-compose.yml", filepath.Join(dir, "docker-compose.yml"))
	copyFile(t, "../.env.example", filepath.Join(dir, ".env"))
	copyFile(t, "../singleuser/Dockerfile", filepath.Join(dir, "singleuser", "Dockerfile"))
	copyFile(t, "../Dockerfile", filepath.Join(dir, "Dockerfile"))

	cmd := exec.Command(compose, "config")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "docker-compose config: %s", out)
	cfg := string(out)
	for _, want := range []string{"network_mode: host", "internal: true", `com.docker.network.bridge.enable_icc: "false"`,
		"/var/run/docker.sock:/var/run/docker.sock", "Host(`labhub.example.edu`)", "letsencrypt.acme.tlschallenge=true",
		"exposedbydefault=false", "LABHUB_PUBLIC_URL: https://labhub.example.edu/",
		// compose prints a literal $ as $$: the hash reaches Traefik intact.
		"basicauth.users: admin:$$2y$$05$$replace.this"} {
		require.Contains(t, cfg, want)
	}

	// A missing required variable stops compose with its message.
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".env"), []byte("LE_CONTACT_EMAIL=a@b\n"), 0o644))
	cmd = exec.Command(compose, "config")
	cmd.Dir = dir
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "set HOST_NAME in .env")

	raw, err := os.ReadFile("../docker-compose.yml")
	require.NoError(t, err)
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`).FindAllStringSubmatch(string(raw), -1) {
		used[m[1]] = true
	}
	env, err := os.ReadFile("../.env.example")
	require.NoError(t, err)
	documented := map[string]bool{}
	for _, line := range strings.Split(string(env), "\n") {
		if k, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			documented[strings.TrimSpace(k)] = true
		}
	}
	for v := range used {
		require.True(t, documented[v], "docker-compose.yml reads %s, which .env.example does not document", v)
	}
	settings, err := exec.Command(labhubBin, "settings").Output()
	require.NoError(t, err)
	for v := range documented {
		require.True(t, used[v] || strings.Contains(string(settings), "`"+v+"`"),
			".env.example documents %s, which neither the compose file nor Labhub reads", v)
	}
}
