package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lms"
)

// An old JupyterHub deployment's home volume, named by DockerSpawner as
// jupyterhub-user-{username} and mounted at DOCKER_NOTEBOOK_DIR, becomes
// the user's home in Labhub when the old .env settings are kept, and Labhub
// leaves it usable by the old deployment again.
func TestAdoptOldDeploymentVolume(t *testing.T) {
	notebook := testutil.Image(t)
	// DockerSpawner escapes "student.one@uni.edu" so: every byte outside
	// [a-z0-9] becomes '-' and two hex digits.
	const volume = "jupyterhub-user-student-2eone-40uni-2eedu"
	docker(t, "volume", "create", volume)
	t.Cleanup(func() { _ = testutil.Docker(t).VolumeRemove(context.Background(), volume, true) })
	docker(t, "run", "--rm", "--user", "0", "-v", volume+":/home/jovyan/work", "--entrypoint", "sh", notebook, "-c",
		"echo written by the old hub > /home/jovyan/work/old.txt && chown -R 1000:100 /home/jovyan/work")

	userlist := filepath.Join(t.TempDir(), "userlist")
	require.NoError(t, os.WriteFile(userlist, []byte("teacher1 admin\nstudent.one@uni.edu\n"), 0o644))
	e := newEnvWith(t, true, "--home-volume", "jupyterhub-user-{username}", "--notebook-dir", "/home/jovyan/work")
	e.hub.extraEnv = append(e.hub.extraEnv, "LTI_USERNAME_KEY=lis_person_contact_email_primary",
		"LABHUB_USERLIST="+userlist)
	e.hub.Start()

	b := browser(t, e.platform)
	student := lms.User{ID: "77", Username: "sone", Email: "Student.One@uni.edu", Roles: []string{lms.RoleLearner}}
	resp, err := b.LaunchLTI11(context.Background(), student, course101, lab1, e.key)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/hub/spawn-pending/student.one@uni.edu/lti101", resp.Header.Get("Location"))
	server := waitForServer(t, b.Client, e.hub.URL, "student.one@uni.edu", "lti101")
	status, _ := get(t, b.Client, server)
	require.Equal(t, http.StatusOK, status)
	j := &jupyter{t: t, client: b.Client, base: server}
	out, errText := j.run("print(open('/home/jovyan/work/old.txt').read().strip()); open('/home/jovyan/work/new.txt','w').write('from labhub')")
	require.Empty(t, errText)
	require.Equal(t, "written by the old hub\n", out)

	// Going back: with Labhub stopped and its container gone, the old
	// volume holds the old files and the new ones, owned by the notebook
	// user as before.
	e.hub.Stop(syscall.SIGTERM)
	docker(t, "rm", "-f", e.hub.names.Container("student.one@uni.edu", "lti101"))
	out = docker(t, "run", "--rm", "-v", volume+":/w", "--entrypoint", "sh", notebook, "-c", "cat /w/old.txt /w/new.txt; stat -c %u:%g /w/new.txt")
	require.Equal(t, "written by the old hub\nfrom labhub1000:100", strings.ReplaceAll(out, "\n1000", "1000"))
}
