package config

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// TLSSettings are the settings of Labhub serving HTTPS itself with
// automatically obtained certificates (ACME, Let's Encrypt by default), for
// a single machine with no proxy in front.
type TLSSettings struct {
	ACMEDomains   string
	ACMEEmail     string
	ACMEDirectory string
	ACMECAFile    string
	HTTPListen    string
}

// LetsEncrypt is the ACME directory of Let's Encrypt's production service.
const LetsEncrypt = "https://acme-v02.api.letsencrypt.org/directory"

// declareTLS declares the settings of c on s.
func declareTLS(s *Set, c *TLSSettings) {
	g := "Web"
	s.String(&c.ACMEDomains, Setting{Flag: "acme-domain", Env: []string{"LABHUB_ACME_DOMAIN"}, Group: g,
		Usage: "Comma-separated host names to get certificates for from an ACME service (Let's Encrypt): Labhub then serves HTTPS itself on --listen, answering the TLS-ALPN challenge there, with no proxy in front."})
	s.String(&c.ACMEEmail, Setting{Flag: "acme-email", Env: []string{"LABHUB_ACME_EMAIL", "LE_CONTACT_EMAIL"}, Group: g,
		Usage: "Contact address given to the ACME service."})
	s.String(&c.ACMEDirectory, Setting{Flag: "acme-directory", Env: []string{"LABHUB_ACME_DIRECTORY"}, Default: LetsEncrypt, Group: g,
		Usage: "ACME directory URL; another one serves a staging service or an institution's own ACME CA."})
	s.String(&c.ACMECAFile, Setting{Flag: "acme-ca-file", Env: []string{"LABHUB_ACME_CA_FILE"}, Group: g,
		Usage: "PEM file of CAs trusted for the ACME service itself (an institution's private ACME CA); empty means the system's."})
	s.String(&c.HTTPListen, Setting{Flag: "http-listen", Env: []string{"LABHUB_HTTP_LISTEN"}, Group: g,
		Usage: "Address of a plain-HTTP listener that sends browsers to HTTPS (and answers ACME HTTP challenges), e.g. :80; empty means none."})
}

// Domains returns the ACME host names.
func (c *TLSSettings) Domains() []string {
	var out []string
	for _, d := range strings.Split(c.ACMEDomains, ",") {
		if d = strings.ToLower(strings.TrimSpace(d)); d != "" {
			out = append(out, d)
		}
	}
	return out
}

// validate checks the settings against the rest of the configuration.
func (c *TLSSettings) validate(publicURL string, staticCert bool) error {
	domains := c.Domains()
	if len(domains) == 0 {
		if c.HTTPListen != "" && !staticCert {
			return fmt.Errorf("--http-listen sends browsers to HTTPS, so Labhub must serve HTTPS (--acme-domain or --tls-cert)")
		}
		return nil
	}
	if staticCert {
		return fmt.Errorf("use either --acme-domain (automatic certificates) or --tls-cert and --tls-key, not both")
	}
	for _, d := range domains {
		if net.ParseIP(d) != nil || !strings.Contains(d, ".") {
			return fmt.Errorf("ACME domain %q must be a public host name such as labhub.example.edu", d)
		}
	}
	u, err := url.Parse(publicURL)
	if err != nil || u.Scheme != "https" {
		return fmt.Errorf("with --acme-domain the public URL must be https://%s/", domains[0])
	}
	found := false
	for _, d := range domains {
		found = found || strings.EqualFold(u.Hostname(), d)
	}
	if !found {
		return fmt.Errorf("the public URL's host %q is not among the ACME domains %s", u.Hostname(), strings.Join(domains, ", "))
	}
	if d, err := url.Parse(c.ACMEDirectory); err != nil || d.Scheme != "https" || d.Host == "" {
		return fmt.Errorf("ACME directory %q must be an https URL", c.ACMEDirectory)
	}
	return nil
}
