package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// LMSSettings are the settings of how Labhub works with LMSs beyond plain
// launches: dynamic registration, roster sync, launches inside LMS pages,
// and the TLS that needs.
type LMSSettings struct {
	Registration   string
	FrameAncestors string
	RosterInterval time.Duration
	TLSCert        string
	TLSKey         string
}

// declareLMS declares the settings of c on s.
func declareLMS(s *Set, c *LMSSettings) {
	g := "LTI"
	s.String(&c.Registration, Setting{Flag: "lti13-registration", Env: []string{"LABHUB_LTI13_REGISTRATION"},
		Default: "invite", Group: g,
		Usage: "Dynamic registration at /lti/register: invite (an LMS needs a registration URL made with `labhub lti13 invite` or the admin console), open (any LMS may register itself) or off."})
	s.Duration(&c.RosterInterval, Setting{Flag: "roster-sync-interval", Env: []string{"LABHUB_ROSTER_SYNC_INTERVAL"},
		Default: "10m", Group: g,
		Usage: "Least time between two syncs of a course's roster (Names and Role Provisioning), which a teacher's launch starts; 0 turns roster sync off."})
	s.String(&c.FrameAncestors, Setting{Flag: "frame-ancestors", Env: []string{"LABHUB_FRAME_ANCESTORS"}, Group: g,
		Usage: "Space-separated origins (https://lms.example.edu) whose pages may show Labhub in a frame, besides those of the registered LTI 1.3 platforms; for LTI 1.1 consumers."})
	g = "Web"
	s.String(&c.TLSCert, Setting{Flag: "tls-cert", Env: []string{"LABHUB_TLS_CERT"}, Group: g,
		Usage: "PEM certificate chain; with --tls-key Labhub serves HTTPS itself instead of behind a TLS-terminating proxy."})
	s.String(&c.TLSKey, Setting{Flag: "tls-key", Env: []string{"LABHUB_TLS_KEY"}, Group: g,
		Usage: "PEM private key of --tls-cert."})
}

// Validate checks the settings.
func (c *LMSSettings) Validate() error {
	switch c.Registration {
	case "invite", "open", "off":
	default:
		return fmt.Errorf("dynamic registration policy %q: use invite, open or off", c.Registration)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("HTTPS needs both --tls-cert and --tls-key")
	}
	for _, o := range c.Origins() {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			return fmt.Errorf("frame ancestor %q is not an origin such as https://lms.example.edu", o)
		}
	}
	return nil
}

// Origins returns the frame ancestors as a list, without trailing slashes.
func (c *LMSSettings) Origins() []string {
	var out []string
	for _, f := range strings.FieldsFunc(c.FrameAncestors, func(r rune) bool { return r == ' ' || r == ',' }) {
		out = append(out, strings.TrimRight(f, "/"))
	}
	return out
}
