package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// chpProcess is a configurable-http-proxy this program started.
type chpProcess struct {
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:<port>
	version string
}

// startCHP runs configurable-http-proxy on loopback with a route for
// routePath to upstream, as JupyterHub would add it through the REST API.
func startCHP(upstream string) (*chpProcess, error) {
	bin, err := exec.LookPath("configurable-http-proxy")
	if err != nil {
		return nil, fmt.Errorf("find configurable-http-proxy: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := freePort()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("make api token: %w", err)
	}
	token := hex.EncodeToString(secret)
	env := append(os.Environ(), "CONFIGPROXY_AUTH_TOKEN="+token)
	// Debian installs the proxy's modules under /usr/share/nodejs, which a
	// node binary from another source does not search.
	nodePath := "/usr/share/nodejs"
	if p := os.Getenv("NODE_PATH"); p != "" {
		nodePath = p + string(os.PathListSeparator) + nodePath
	}
	env = append(env, "NODE_PATH="+nodePath)

	out, err := command(env, bin, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("run configurable-http-proxy --version: %w", err)
	}
	version := strings.TrimSpace(string(out))

	cmd := command(env, bin,
		"--ip", "127.0.0.1", "--port", strconv.Itoa(port),
		"--api-ip", "127.0.0.1", "--api-port", strconv.Itoa(apiPort),
		"--log-level", "error")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start configurable-http-proxy: %w", err)
	}
	c := &chpProcess{cmd: cmd, base: "http://127.0.0.1:" + strconv.Itoa(port), version: version}
	api := "http://127.0.0.1:" + strconv.Itoa(apiPort) + "/api/routes"
	if err := c.addRoute(api, token, upstream); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// command prepares bin with env.
func command(env []string, bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	return cmd
}

// addRoute waits for the REST API to answer, then adds the benchmark route.
func (c *chpProcess) addRoute(api, token, upstream string) error {
	body, err := json.Marshal(map[string]string{"target": upstream})
	if err != nil {
		return fmt.Errorf("encode route: %w", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		req, err := http.NewRequest(http.MethodPost, api+strings.TrimSuffix(routePath, "/"), bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("build route request: %w", err)
		}
		req.Header.Set("Authorization", "token "+token)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusCreated {
				return nil
			}
			return fmt.Errorf("add route: status %d", res.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("configurable-http-proxy api did not answer: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends the process this program started and reaps it.
func (c *chpProcess) stop() {
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() {
		_ = c.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
