package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lms"
)

// docker runs the docker command and returns its trimmed output.
func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	require.NoError(t, err, "docker %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// containerHub is Labhub running in its own container from the image the
// Dockerfile builds, with the engine's socket mounted.
type containerHub struct {
	name, internal, public string
}

// runContainerHub starts Labhub's image as docker compose would, configured
// through the old deployment's environment names. It removes everything it
// and its notebook servers made when the test ends.
func runContainerHub(t *testing.T, id string, runArgs []string, env map[string]string) *containerHub {
	image := testutil.LabhubImage(t)
	cli := testutil.Docker(t)
	h := &containerHub{name: "labhub-ct-" + id, internal: "labhub-ct-int-" + id}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", "--tail", "60", h.name).CombinedOutput()
			t.Logf("labhub container log:\n%s", out)
		}
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cs, _ := cli.ContainerList(c, container.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("network", h.internal))})
		for _, x := range cs {
			_ = cli.ContainerRemove(c, x.ID, container.RemoveOptions{Force: true})
		}
		_ = cli.ContainerRemove(c, h.name, container.RemoveOptions{Force: true})
		for _, v := range []string{"labhub-home-cstudent--ct" + id, "labhub-shared-ct" + id,
			"labhub-home-cstudent-2d2--ct" + id + "-2d2", "labhub-shared-ct" + id + "-2d2"} {
			_ = cli.VolumeRemove(c, v, true)
		}
		_ = cli.NetworkRemove(c, h.internal)
	})
	args := append([]string{"run", "-d", "--name", h.name, "-v", "/var/run/docker.sock:/var/run/docker.sock",
		"--label", "labhub.test=" + h.name}, runArgs...)
	env["DOCKER_NETWORK_NAME"] = h.internal
	env["DOCKER_SINGLEUSER_IMAGE"] = testutil.Image(t)
	env["LABHUB_MEM_LIMIT"] = "512M"
	env["LABHUB_LOG_LEVEL"] = "debug"
	for k, v := range env {
		args = append(args, "-e", k+"="+v)
	}
	docker(t, append(args, image, "serve")...)
	return h
}

func (h *containerHub) waitUp(t *testing.T) {
	require.Eventually(t, func() bool {
		resp, err := http.Get(h.public + "healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 200*time.Millisecond, "labhub in its container did not answer")
}

// launchAndRun registers an LMS double with the hub through the command in
// its container, launches a student over LTI 1.3 and LTI 1.1, and runs a
// kernel through the hub's proxy.
func (h *containerHub) launchAndRun(t *testing.T, p *lms.Platform, lmsURL, id, key, secret string) {
	ctx := context.Background()
	clientID := lms.NewClientID()
	p.AddTool(lms.Tool{ClientID: clientID, DeploymentID: "1", LoginURL: h.public + "lti/login",
		RedirectURIs: []string{h.public + "lti/launch"}, TargetLinkURI: h.public + "lti/launch", JWKSURL: h.public + "lti/jwks",
		LTI11LaunchURL: h.public + "hub/lti/launch", ConsumerKey: key, SharedSecret: secret})
	out := docker(t, "exec", h.name, "/labhub", "lti13", "add-platform", "--issuer", lmsURL, "--client-id", clientID,
		"--deployment-id", "1", "--auth-url", lmsURL+"/mod/lti/auth.php", "--token-url", lmsURL+"/mod/lti/token.php",
		"--jwks-url", lmsURL+"/mod/lti/certs.php")
	require.Contains(t, out, "saved")

	student := lms.User{ID: "40", Username: "cstudent", Roles: []string{lms.RoleLearner}}
	crs := lms.Course{ID: "7", Label: "CT" + id, Title: "Containers"}
	link := lms.Link{ID: "3", Title: "Lab"}
	slug := "ct" + id
	for _, version := range []string{"1.3", "1.1"} {
		b := browser(t, p)
		var resp *http.Response
		var err error
		if version == "1.3" {
			resp, err = b.LaunchLTI13(ctx, student, crs, link, clientID)
		} else {
			resp, err = b.LaunchLTI11(ctx, student, crs, link, key)
		}
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		// An LTI 1.1 consumer is another platform than the LTI 1.3
		// registration, so the same LMS account is another Labhub user
		// with a course of its own.
		loc := strings.TrimPrefix(resp.Header.Get("Location"), "/hub/spawn-pending/")
		parts := strings.Split(strings.Trim(strings.TrimPrefix(loc, "/user/"), "/"), "/")
		require.Len(t, parts, 2, resp.Header.Get("Location"))
		require.True(t, strings.HasPrefix(parts[1], slug), parts[1])
		server := waitForServer(t, b.Client, h.public, parts[0], parts[1])
		status, _ := get(t, b.Client, server)
		require.Equal(t, http.StatusOK, status)
		out, errText := (&jupyter{t: t, client: b.Client, base: server}).run("print(6*7)")
		require.Empty(t, errText)
		require.Equal(t, "42\n", out, "LTI %s", version)
	}
	cli := testutil.Docker(t)
	inet, err := cli.NetworkInspect(ctx, h.internal, network.InspectOptions{})
	require.NoError(t, err)
	require.True(t, inet.Internal, "the notebook network has no route out")
	var names []string
	for _, c := range inet.Containers {
		names = append(names, c.Name)
	}
	require.Contains(t, names, "labhub-cstudent--ct"+id, "the notebook server is a sibling on the internal network")
}

func shortID() string { return fmt.Sprintf("%06x", rand.Uint32()&0xffffff) }

// The compose file's arrangement: Labhub's container on the host's network,
// the notebook network created by Labhub (internal, containers isolated from
// each other), notebook servers reaching the hub on the network's gateway.
func TestLabhubContainerComposeLayout(t *testing.T) {
	id := shortID()
	p, err := lms.New(lms.Options{})
	require.NoError(t, err)
	lmsSrv := httptest.NewServer(p.Handler())
	t.Cleanup(lmsSrv.Close)
	p.SetIssuer(lmsSrv.URL)

	listen := "127.0.0.1:" + strconv.Itoa(freePort(t))
	key, secret := "compose-key", "compose secret"
	h := runContainerHub(t, id, []string{"--network", "host"}, map[string]string{
		"LABHUB_LISTEN": listen, "LABHUB_PUBLIC_URL": "http://" + listen + "/", "LABHUB_HUB_PORT": strconv.Itoa(freePort(t)),
		"LTI_CLIENT_KEY": key, "LTI_SHARED_SECRET": secret,
	})
	h.public = "http://" + listen + "/"
	h.waitUp(t)
	h.launchAndRun(t, p, lmsSrv.URL, id, key, secret)
	inet, err := testutil.Docker(t).NetworkInspect(context.Background(), h.internal, network.InspectOptions{})
	require.NoError(t, err)
	require.Equal(t, "false", inet.Options["com.docker.network.bridge.enable_icc"])
}

// The old deployment's arrangement: the hub container on a bridge network,
// joined to a notebook network on which containers may reach each other
// (like jupyterhub-deploy-docker's), found by its container name in HUB_IP.
func TestLabhubContainerOldLayout(t *testing.T) {
	id := shortID()
	cli := testutil.Docker(t)
	ctx := context.Background()
	front := "labhub-ct-front-" + id
	_, err := cli.NetworkCreate(ctx, front, network.CreateOptions{Driver: "bridge"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.NetworkRemove(context.Background(), front) })
	internal := "labhub-ct-int-" + id
	_, err = cli.NetworkCreate(ctx, internal, network.CreateOptions{Driver: "bridge", Internal: true})
	require.NoError(t, err)
	n, err := cli.NetworkInspect(ctx, front, network.InspectOptions{})
	require.NoError(t, err)

	// The LMS listens where the hub's container reaches the host.
	p, err := lms.New(lms.Options{})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", net.JoinHostPort(n.IPAM.Config[0].Gateway, "0"))
	require.NoError(t, err)
	lmsSrv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: p.Handler()}}
	lmsSrv.Start()
	t.Cleanup(lmsSrv.Close)
	p.SetIssuer(lmsSrv.URL)

	port := strconv.Itoa(freePort(t))
	key, secret := "old-key", "old secret"
	name := "labhub-ct-" + id
	h := runContainerHub(t, id, []string{"--network", front, "-p", "127.0.0.1:" + port + ":8000"}, map[string]string{
		"LABHUB_PUBLIC_URL": "http://127.0.0.1:" + port + "/", "HUB_IP": name,
		"LTI_CLIENT_KEY": key, "LTI_SHARED_SECRET": secret,
	})
	h.public = "http://127.0.0.1:" + port + "/"
	h.waitUp(t)
	h.launchAndRun(t, p, lmsSrv.URL, id, key, secret)
}

// A hub container on a bridge network cannot serve a notebook network that
// isolates containers: it stops at start with a message saying what to do.
func TestLabhubContainerRefusesUnreachableLayout(t *testing.T) {
	id := shortID()
	h := runContainerHub(t, id, nil, map[string]string{"LABHUB_PUBLIC_URL": "http://127.0.0.1:1/"})
	require.Eventually(t, func() bool {
		out, _ := exec.Command("docker", "inspect", "-f", "{{.State.Running}}", h.name).CombinedOutput()
		return strings.TrimSpace(string(out)) == "false"
	}, 60*time.Second, 200*time.Millisecond)
	logs, _ := exec.Command("docker", "logs", h.name).CombinedOutput()
	require.Contains(t, string(logs), "network_mode: host")
}
