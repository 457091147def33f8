package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lms"
)

// testCerts is a CA made for one test and a certificate it signed for the
// loopback addresses the test serves on.
type testCerts struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	leaf                      tls.Certificate
	// spki is the base64 SHA-256 of the certificate's public key, which
	// Chromium's --ignore-certificate-errors-spki-list takes.
	spki string
}

func newTestCerts(t *testing.T) *testCerts {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "labhub test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("127.0.0.2")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)

	c := &testCerts{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "cert.pem"),
		keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	c.pool.AddCert(ca)
	write := func(name, typ string, b []byte) {
		require.NoError(t, os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600))
	}
	write(c.caFile, "CERTIFICATE", caDER)
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	require.NoError(t, os.WriteFile(c.certFile, chain, 0o600))
	write(c.keyFile, "EC PRIVATE KEY", keyDER)
	c.leaf, err = tls.LoadX509KeyPair(c.certFile, c.keyFile)
	require.NoError(t, err)
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	c.spki = base64.StdEncoding.EncodeToString(sum[:])
	return c
}

// client returns an HTTP client that trusts the test CA.
func (c *testCerts) client() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.pool}}}
}

// useTLS makes the hub serve HTTPS with the test certificate at the same
// address, and trust the test CA for its own calls to the LMS.
func (h *hub) useTLS(c *testCerts) {
	h.URL = "https://" + h.listen + "/"
	h.client = c.client()
	h.extra = append(h.extra, "--tls-cert", c.certFile, "--tls-key", c.keyFile, "--public-url", h.URL)
	h.extraEnv = append(h.extraEnv, "SSL_CERT_FILE="+c.caFile)
}

// newLMSAt serves a platform double on 127.0.0.2, another site than the
// hub's 127.0.0.1, over HTTPS with certs or over HTTP when certs is nil.
func newLMSAt(t *testing.T, opts lms.Options, certs *testCerts) (*lms.Platform, *httptest.Server) {
	t.Helper()
	p, err := lms.New(opts)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(p.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	if certs != nil {
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{certs.leaf}}
		srv.StartTLS()
		p.SetHTTPClient(certs.client())
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	p.SetIssuer(srv.URL)
	return p, srv
}

// register registers the platform double with the hub through the command
// and the hub with the platform, as administrators do by hand.
func (h *hub) register(p *lms.Platform, srv *httptest.Server, clientID string) {
	h.t.Helper()
	p.AddTool(lms.Tool{ClientID: clientID, DeploymentID: "1", LoginURL: h.URL + "lti/login",
		RedirectURIs: []string{h.URL + "lti/launch"}, TargetLinkURI: h.URL + "lti/launch", JWKSURL: h.URL + "lti/jwks"})
	h.CLI("lti13", "add-platform", "--issuer", srv.URL, "--client-id", clientID, "--deployment-id", "1",
		"--auth-url", srv.URL+"/mod/lti/auth.php", "--token-url", srv.URL+"/mod/lti/token.php",
		"--jwks-url", srv.URL+"/mod/lti/certs.php")
}
