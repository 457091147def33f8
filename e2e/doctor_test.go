package e2e

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
)

// labhub doctor, run with the settings of a running hub, finds it healthy:
// a container on the notebook network reaches the hub API, the public URL
// answers as Labhub, the network is internal. With a wrong hub port it
// fails and says what to fix.
func TestDoctorOnRunningHub(t *testing.T) {
	h := newHub(t)
	h.Start()
	run := func(port int) (string, error) {
		cmd := exec.Command(labhubBin, "doctor", "--data-dir", h.dir, "--listen", h.listen, "--network", h.network,
			"--hub-port", strconv.Itoa(port), "--image", testutil.Image(t))
		cmd.Env = h.env()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run(h.hubPort)
	require.NoError(t, err, out)
	for _, line := range []string{"docker", "network", "image", "hub from network", "public url", "database"} {
		require.Regexp(t, `(?m)^ok\s+`+line, out)
	}
	require.Regexp(t, `(?m)^warn\s+tls`, out, "plain HTTP is worth a warning")

	out, err = run(h.hubPort + 1)
	require.Error(t, err)
	require.Regexp(t, `(?m)^FAIL\s+hub from network`, out)
	require.True(t, strings.Contains(out, "fix:"), out)
}
