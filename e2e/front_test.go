package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/lms"
)

// codeBlock returns the fenced block of language lang in docs/fronts.md.
func codeBlock(t *testing.T, lang string) string {
	raw, err := os.ReadFile("../docs/fronts.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```").FindStringSubmatch(string(raw))
	require.NotNil(t, m, "docs/fronts.md has no %s block", lang)
	return m[1]
}

// testCA makes a CA and a certificate for 127.0.0.1 signed by it, writes
// the certificate chain and key into dir, and returns a pool that trusts
// the CA.
func testCA(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "labhub test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "fullchain.pem"), filepath.Join(dir, "privkey.pem")
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	require.NoError(t, os.WriteFile(certFile, chain, 0o600))
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	pool = x509.NewCertPool()
	pool.AddCert(caCert)
	return certFile, keyFile, pool
}

// startProcess runs a front and stops it when the test ends.
func startProcess(t *testing.T, cmd *exec.Cmd) {
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	// Worker processes inherit the output pipes; do not wait for them.
	cmd.WaitDelay = 5 * time.Second
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", cmd.Path, logs.String())
		}
	})
}

// The documented nginx and Caddy configurations terminate TLS in front of
// Labhub: launches (whose LTI 1.1 signature covers the public URL), the
// progress stream and kernel websockets work through them.
func TestDocumentedFronts(t *testing.T) {
	for _, front := range []string{"nginx", "caddy"} {
		t.Run(front, func(t *testing.T) {
			bin := testutil.LookPath(t, front)
			dir := t.TempDir()
			cert, key, pool := testCA(t, dir)
			port := freePort(t)
			public := "https://127.0.0.1:" + strconv.Itoa(port) + "/"
			h := newHub(t, "--public-url", public, "--trusted-proxies", "127.0.0.1")
			h.URL = public
			switch front {
			case "nginx":
				conf := codeBlock(t, "nginx")
				conf = strings.NewReplacer(
					"listen 80;", "listen 127.0.0.1:"+strconv.Itoa(freePort(t))+";",
					"listen 443 ssl;", "listen 127.0.0.1:"+strconv.Itoa(port)+" ssl;",
					"/etc/letsencrypt/live/labhub.example.edu/fullchain.pem", cert,
					"/etc/letsencrypt/live/labhub.example.edu/privkey.pem", key,
					"labhub.example.edu", "127.0.0.1",
					"127.0.0.1:8000", h.listen,
				).Replace(conf)
				var temps strings.Builder
				for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
					temps.WriteString(d + "_temp_path " + filepath.Join(dir, d) + ";\n")
				}
				main := "user root;\nworker_processes 1;\npid " + filepath.Join(dir, "nginx.pid") + ";\nerror_log " +
					filepath.Join(dir, "error.log") + ";\nevents {}\nhttp {\naccess_log off;\n" + temps.String() + conf + "}\n"
				require.NoError(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644))
				startProcess(t, exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;"))
			case "caddy":
				conf := codeBlock(t, "caddyfile")
				conf = strings.NewReplacer(
					"labhub.example.edu {", "{\n\tadmin off\n\tskip_install_trust\n}\nhttps://127.0.0.1:"+strconv.Itoa(port)+" {\n\ttls "+cert+" "+key,
					"127.0.0.1:8000", h.listen,
				).Replace(conf)
				require.NoError(t, os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(conf), 0o644))
				cmd := exec.Command(bin, "run", "--config", filepath.Join(dir, "Caddyfile"), "--adapter", "caddyfile")
				cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
					"HOME="+dir)
				startProcess(t, cmd)
			}
			e := register(t, h, false)
			h.Start()
			jar, err := cookiejar.New(nil)
			require.NoError(t, err)
			client := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			require.Eventually(t, func() bool {
				resp, err := client.Get(public + "healthz")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK
			}, 20*time.Second, 100*time.Millisecond, "the front does not answer")

			for _, version := range []string{"1.1", "1.3"} {
				jar, _ := cookiejar.New(nil)
				b := &lms.Browser{Client: &http.Client{Jar: jar, Transport: client.Transport}, Platform: e.platform}
				var resp *http.Response
				if version == "1.1" {
					resp, err = b.LaunchLTI11(context.Background(), student1, course101, lab1, e.key)
				} else {
					resp, err = b.LaunchLTI13(context.Background(), student1, course101, lab1, e.clientID)
				}
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusSeeOther, resp.StatusCode, "LTI %s through %s", version, front)
				loc := strings.TrimPrefix(resp.Header.Get("Location"), "/hub/spawn-pending/")
				parts := strings.Split(strings.Trim(strings.TrimPrefix(loc, "/user/"), "/"), "/")
				server := waitForServer(t, b.Client, public, parts[0], parts[1])
				status, _ := get(t, b.Client, server)
				require.Equal(t, http.StatusOK, status)
				out, errText := (&jupyter{t: t, client: b.Client, base: server}).run("print(6*7)")
				require.Empty(t, errText)
				require.Equal(t, "42\n", out)
			}
		})
	}
}
