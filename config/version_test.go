package config_test

import (
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/config"
)

func TestValidVersion(t *testing.T) {
	for _, tc := range []struct {
		v  string
		ok bool
	}{
		{"5.3.0", true}, {"4.1.6", true}, {"5.0.0b1", true}, {"5", true}, {"5.0.0rc2", true},
		{"5.0.0a1", true}, {"4.1.6.post1", true}, {"5.4.0.dev3", true}, {"5.0.0rc1.post2.dev1", true},
		{"latest", false}, {"", false}, {"v5", false}, {"5.", false}, {".5", false}, {"5.0.0-b1", false},
		{"5.0.0beta1", false}, {"5.3.0 ", false}, {"4.1.6-python3.11", false}, {"5.0.0b", false},
	} {
		err := config.ValidVersion(tc.v)
		if tc.ok {
			require.NoError(t, err, "%q", tc.v)
		} else {
			require.Error(t, err, "%q", tc.v)
		}
	}
}

// serverSet declares the server settings on a fresh flag set.
func serverSet() (*config.Set, *pflag.FlagSet, *config.Server) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	var cfg config.Server
	s := config.NewSet(fs)
	config.DeclareServer(s, &cfg)
	return s, fs, &cfg
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

// An invalid --jupyterhub-version or LABHUB_JUPYTERHUB_VERSION is an error;
// the old deployment's JUPYTERHUB_VERSION, which may hold a Docker tag such
// as "latest", is ignored with a warning and the default is reported.
func TestJupyterHubVersionSetting(t *testing.T) {
	s, fs, cfg := serverSet()
	require.NoError(t, fs.Parse(nil))
	require.NoError(t, s.ApplyEnv(lookup(map[string]string{"JUPYTERHUB_VERSION": "4.1.6"})))
	require.Equal(t, "4.1.6", cfg.CompatVersion)

	for _, bad := range []string{"latest", "", "v5"} {
		s, fs, cfg = serverSet()
		require.NoError(t, fs.Parse(nil))
		require.NoError(t, s.ApplyEnv(lookup(map[string]string{"JUPYTERHUB_VERSION": bad})), "%q", bad)
		require.Equal(t, "5.3.0", cfg.CompatVersion, "%q falls back to the default", bad)
		require.Len(t, s.Warnings(), 1)
		require.Equal(t, "JUPYTERHUB_VERSION", s.Warnings()[0].Env)

		s, fs, _ = serverSet()
		require.NoError(t, fs.Parse(nil))
		err := s.ApplyEnv(lookup(map[string]string{"LABHUB_JUPYTERHUB_VERSION": bad, "JUPYTERHUB_VERSION": "4.1.6"}))
		require.ErrorContains(t, err, "LABHUB_JUPYTERHUB_VERSION", "%q", bad)
		require.ErrorContains(t, err, "PEP 440")

		_, fs, _ = serverSet()
		err = fs.Parse([]string{"--jupyterhub-version=" + bad})
		require.ErrorContains(t, err, "jupyterhub-version", "%q", bad)
	}

	s, fs, cfg = serverSet()
	require.NoError(t, fs.Parse([]string{"--jupyterhub-version=5.0.0b1"}))
	require.NoError(t, s.ApplyEnv(lookup(map[string]string{"JUPYTERHUB_VERSION": "latest"})))
	require.Equal(t, "5.0.0b1", cfg.CompatVersion)
	require.Empty(t, s.Warnings(), "the flag wins; the old variable is not read")

	cfg.CompatVersion = "latest"
	require.ErrorContains(t, cfg.Validate(), "--jupyterhub-version")
}
