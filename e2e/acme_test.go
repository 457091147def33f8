package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pebbleVersion is the ACME test server the test builds.
const pebbleVersion = "github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3"

// pebble builds (once per machine, cached in the temporary directory) and
// starts Let's Encrypt's ACME test server on loopback, with challenge
// validation off, and returns its directory URL and a client that trusts
// its management API.
func pebble(t *testing.T, dir, cert, key string) (directory string, mgmt string) {
	bin := filepath.Join(os.TempDir(), "labhub-pebble-v2.10.3", "pebble")
	if _, err := os.Stat(bin); err != nil {
		cmd := exec.Command("go", "install", pebbleVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+filepath.Dir(bin))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "build pebble: %s", out)
	}
	api, mg := freePort(t), freePort(t)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress": "127.0.0.1:" + strconv.Itoa(api), "managementListenAddress": "127.0.0.1:" + strconv.Itoa(mg),
		"certificate": cert, "privateKey": key, "httpPort": freePort(t), "tlsPort": freePort(t),
		"externalAccountBindingRequired": false, "keyAlgorithm": "ecdsa",
		"profiles": map[string]any{"default": map[string]any{"description": "default", "validityPeriod": 7776000}},
	}}
	b, err := json.Marshal(conf)
	require.NoError(t, err)
	path := filepath.Join(dir, "pebble.json")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	cmd := exec.Command(bin, "-config", path)
	// Challenges are not validated (pebble would have to reach the host
	// name on a public port), and no nonce is rejected at random.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	startProcess(t, cmd)
	return "https://127.0.0.1:" + strconv.Itoa(api) + "/dir", "https://127.0.0.1:" + strconv.Itoa(mg)
}

// With --acme-domain, Labhub on its own gets a certificate from an ACME
// service (here pebble, Let's Encrypt's test server), serves HTTPS with it,
// and sends plain HTTP to HTTPS.
func TestAutomaticCertificates(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := testCA(t, dir)
	directory, mgmt := pebble(t, dir, certFile, keyFile)
	caFile := filepath.Join(dir, "ca.pem")
	chain, err := os.ReadFile(certFile)
	require.NoError(t, err)
	// The second certificate of the chain is the test CA.
	rest := chain
	var caPEM []byte
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		caPEM = pem.EncodeToMemory(block)
	}
	require.NoError(t, os.WriteFile(caFile, caPEM, 0o644))

	port, httpPort := freePort(t), freePort(t)
	const domain = "labhub.test"
	h := newHub(t, "--acme-domain", domain, "--acme-directory", directory, "--acme-ca-file", caFile,
		"--acme-email", "admin@example.invalid", "--public-url", "https://"+domain+":"+strconv.Itoa(port)+"/",
		"--http-listen", "127.0.0.1:"+strconv.Itoa(httpPort))
	h.listen = "127.0.0.1:" + strconv.Itoa(port)
	h.URL = "https://" + domain + ":" + strconv.Itoa(port) + "/"

	// The client resolves the domain to loopback and trusts pebble's root,
	// fetched from its management API (served with the test CA).
	mc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	roots := x509.NewCertPool()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	h.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, p, err := net.SplitHostPort(addr); err == nil && host == domain {
				addr = net.JoinHostPort("127.0.0.1", p)
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	require.Eventually(t, func() bool {
		resp, err := mc.Get(mgmt + "/roots/0")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && roots.AppendCertsFromPEM(b)
	}, 30*time.Second, 200*time.Millisecond, "pebble does not answer")

	h.health = h.URL + "healthz"
	h.Start()
	resp, err := h.client.Get(h.URL + "lti/jwks")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	leaf := resp.TLS.PeerCertificates[0]
	require.Equal(t, []string{domain}, leaf.DNSNames)
	require.NotEqual(t, "labhub test CA", leaf.Issuer.CommonName, "the certificate comes from the ACME service")

	// Plain HTTP is sent to HTTPS.
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/hub/home?x=1", nil)
	require.NoError(t, err)
	req.Host = domain
	resp, err = h.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	require.Equal(t, "https://"+domain+"/hub/home?x=1", resp.Header.Get("Location"))

	// The certificate is kept in the data directory for the next start.
	entries, err := os.ReadDir(filepath.Join(h.dir, "acme"))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.True(t, strings.Contains(strings.Join(names, " "), domain), "cache holds %v", names)
}
