package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labhub/labhub/migrations"
	"github.com/labhub/labhub/spawner"
)

// probe is a Python one-liner: notebook images always have Python.
const probe = `import sys,urllib.request
try:
    r=urllib.request.urlopen(sys.argv[1],timeout=5)
    print(r.status, r.headers.get("X-JupyterHub-Version",""))
except Exception as e:
    print("error", e); sys.exit(1)`

// checkHubFromNetwork starts a throwaway container on the notebook network,
// as a notebook server would be, and calls the hub API from there: this
// catches a wrong HUB_IP, port or network.
func checkHubFromNetwork(ctx context.Context, e *Env) Result {
	r := Result{Check: "hub from network"}
	if e.HubAPIURL == "" {
		r.Status, r.Message = Warn, "no hub API address known"
		return r
	}
	if ok, _ := e.Docker.ImagePresent(ctx, e.Image); !ok {
		r.Status, r.Message = Warn, "skipped: the default image is missing"
		return r
	}
	if _, err := e.Docker.InspectNetwork(ctx, e.Network); err != nil {
		r.Status, r.Message = Warn, "skipped: the network does not exist yet"
		return r
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	code, out, err := e.Docker.Run(cctx, spawner.RunSpec{Image: e.Image, Network: e.Network,
		Cmd: []string{"python3", "-c", probe, e.HubAPIURL}})
	switch {
	case err != nil:
		r.Status, r.Message = Fail, "could not run a probe container: "+err.Error()
	case code != 0 || !strings.HasPrefix(out, "200 "):
		r.Status, r.Message = Fail, fmt.Sprintf("a container on %s cannot reach the hub at %s: %s", e.Network, e.HubAPIURL, out)
		r.Fix = "is labhub serve running? Set HUB_IP to the address containers use for the hub (its container name when Labhub runs in Docker), and make sure the hub joins that network"
	default:
		r.Status, r.Message = OK, fmt.Sprintf("containers on %s reach %s", e.Network, e.HubAPIURL)
	}
	return r
}

// checkPublicURL fetches /healthz through the public URL, as the LMS and
// browsers would, and looks at the certificate.
func checkPublicURL(ctx context.Context, e *Env) []Result {
	u := e.PublicURL + "healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return []Result{{Check: "public url", Status: Fail, Message: err.Error()}}
	}
	resp, err := e.http().Do(req)
	if err != nil {
		fix := "check DNS, the reverse proxy and the firewall; --public-url must be the address the LMS and browsers use"
		var cerr *tls.CertificateVerificationError
		if errors.As(err, &cerr) {
			fix = "the certificate is not trusted: check the reverse proxy's certificate (Let's Encrypt resolver) or --tls-cert"
		}
		return []Result{{Check: "public url", Status: Fail, Message: fmt.Sprintf("%s does not answer: %v", u, err), Fix: fix}}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	var out []Result
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Labhub-Version") == "" {
		out = append(out, Result{Check: "public url", Status: Fail,
			Message: fmt.Sprintf("%s answered %d without Labhub's version header", u, resp.StatusCode),
			Fix:     "the reverse proxy does not forward to Labhub; check its routing"})
	} else {
		out = append(out, Result{Check: "public url", Status: OK, Message: fmt.Sprintf("%s answers (labhub %s)", e.PublicURL, resp.Header.Get("X-Labhub-Version"))})
	}
	if resp.TLS == nil {
		out = append(out, Result{Check: "tls", Status: Warn, Message: "the public URL is plain HTTP",
			Fix: "serve Labhub over HTTPS: LMS iframes need Secure cookies, and launches carry credentials"})
		return out
	}
	leaf := resp.TLS.PeerCertificates[0]
	left := leaf.NotAfter.Sub(e.now())
	r := Result{Check: "tls", Status: OK, Message: fmt.Sprintf("certificate for %s valid for %d more days", names(leaf), int(left.Hours()/24))}
	if left < 14*24*time.Hour {
		r.Status, r.Fix = Warn, "renew the certificate; check the ACME resolver's logs"
	}
	return append(out, r)
}

func names(c *x509.Certificate) string {
	if len(c.DNSNames) > 0 {
		return strings.Join(c.DNSNames, ", ")
	}
	return c.Subject.CommonName
}

// checkPlatforms fetches every LTI 1.3 platform's key set, as a launch
// would, and compares the platform's clock with ours.
func checkPlatforms(ctx context.Context, e *Env) []Result {
	if e.Registry == nil {
		return nil
	}
	ps, err := e.Registry.Platforms(ctx)
	if err != nil {
		return []Result{{Check: "lti", Status: Fail, Message: err.Error()}}
	}
	cs, err := e.Registry.Consumers(ctx)
	if err != nil {
		return []Result{{Check: "lti", Status: Fail, Message: err.Error()}}
	}
	if len(ps) == 0 && len(cs) == 0 {
		return []Result{{Check: "lti", Status: Warn, Message: "no LMS is registered",
			Fix: "register one: labhub lti13 add-platform … or labhub lti11 add-consumer … (see the README)"}}
	}
	out := []Result{{Check: "lti", Status: OK, Message: fmt.Sprintf("%d LTI 1.3 platform(s), %d LTI 1.1 consumer(s)", len(ps), len(cs))}}
	for _, p := range ps {
		check := "lti13 " + p.Issuer
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.JWKSURL, nil)
		if err != nil {
			out = append(out, Result{Check: check, Status: Fail, Message: "bad keyset URL: " + err.Error()})
			continue
		}
		resp, err := e.http().Do(req)
		if err != nil {
			out = append(out, Result{Check: check, Status: Fail, Message: fmt.Sprintf("keyset %s unreachable: %v", p.JWKSURL, err),
				Fix: "check the platform's public keyset URL (Moodle: <site>/mod/lti/certs.php) and that Labhub can reach the LMS"})
			continue
		}
		var set struct {
			Keys []struct{ Kty, Kid string }
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set)
		resp.Body.Close()
		rsa := 0
		for _, k := range set.Keys {
			if k.Kty == "RSA" {
				rsa++
			}
		}
		if resp.StatusCode != http.StatusOK || err != nil || rsa == 0 {
			out = append(out, Result{Check: check, Status: Fail, Message: fmt.Sprintf("keyset %s answered %d with no RSA key", p.JWKSURL, resp.StatusCode),
				Fix: "the keyset URL must be the platform's JWKS (Moodle: <site>/mod/lti/certs.php)"})
			continue
		}
		out = append(out, Result{Check: check, Status: OK, Message: fmt.Sprintf("client %s, %d deployment(s), %d key(s)", p.ClientID, len(p.Deployments), rsa)})
		if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			out = append(out, clockResult("clock ("+hostOf(p.Issuer)+")", e.now().Sub(d), 30*time.Second))
		}
		out = append(out, checkEndpoints(ctx, e, check, p.AuthURL, p.TokenURL))
	}
	return out
}

// checkEndpoints calls a platform's authorization URL, which browsers are
// sent to at every launch, and its token URL, which grade delivery and
// roster syncs use. Any answer below 500 counts: without a real request
// both refuse, but they are there.
func checkEndpoints(ctx context.Context, e *Env, check, authURL, tokenURL string) Result {
	r := Result{Check: check + " endpoints", Status: OK}
	var answered []string
	for _, ep := range []struct{ name, method, url, fix string }{
		{"authorization URL", http.MethodGet, authURL,
			"check the platform's authentication request URL (Moodle: <site>/mod/lti/auth.php)"},
		{"token URL", http.MethodPost, tokenURL,
			"check the platform's access token URL (Moodle: <site>/mod/lti/token.php); grades and rosters need it"},
	} {
		if ep.url == "" {
			if ep.method == http.MethodPost {
				r.Status, r.Message, r.Fix = Warn, "no token URL: grades and rosters cannot be exchanged", ep.fix
				return r
			}
			continue
		}
		req, err := http.NewRequestWithContext(ctx, ep.method, ep.url, strings.NewReader(""))
		if err != nil {
			r.Status, r.Message, r.Fix = Fail, fmt.Sprintf("bad %s: %v", ep.name, err), ep.fix
			return r
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := e.http().Do(req)
		if err != nil {
			r.Status, r.Message, r.Fix = Fail, fmt.Sprintf("%s %s unreachable: %v", ep.name, ep.url, err), ep.fix
			return r
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			r.Status, r.Message, r.Fix = Warn, fmt.Sprintf("%s %s answered %d", ep.name, ep.url, resp.StatusCode), ep.fix
			return r
		}
		answered = append(answered, ep.name)
	}
	r.Message = strings.Join(answered, " and ") + " answer"
	return r
}

func hostOf(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	h, _, _ := strings.Cut(u, "/")
	return h
}

func checkSchema(ctx context.Context, e *Env) Result {
	if e.DB == nil {
		return Result{Check: "database", Status: Warn, Message: "not opened"}
	}
	cur, err := migrations.Current(ctx, e.DB.DB)
	if err != nil {
		return Result{Check: "database", Status: Fail, Message: err.Error()}
	}
	switch {
	case cur > migrations.Latest():
		return Result{Check: "database", Status: Fail, Message: fmt.Sprintf("schema %d is newer than this labhub (%d)", cur, migrations.Latest()),
			Fix: "run the labhub version that wrote it, or restore a backup"}
	case cur < migrations.Latest():
		return Result{Check: "database", Status: Warn, Message: fmt.Sprintf("schema %d, this labhub needs %d", cur, migrations.Latest()),
			Fix: "labhub migrate (serve does it at start; SQLite is backed up first)"}
	}
	return Result{Check: "database", Status: OK, Message: fmt.Sprintf("schema %d is current", cur)}
}
