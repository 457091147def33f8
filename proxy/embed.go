package proxy

import (
	"net/http"
	"strings"
)

// embedHeaders lets an LMS page show a server's pages: the frame-ancestors
// of the server's Content-Security-Policy (jupyter_server sends
// frame-ancestors 'self') become 'self' plus the LMS origins,
// X-Frame-Options goes, and, over HTTPS, the server's cookies become
// usable in a third-party frame.
func (p *Proxy) embedHeaders(h http.Header) {
	if p.frameAncestors != nil {
		policy := "frame-ancestors 'self'"
		if origins := p.frameAncestors(); len(origins) > 0 {
			policy += " " + strings.Join(origins, " ")
		}
		replaced := false
		csp := h.Values("Content-Security-Policy")
		for i, v := range csp {
			csp[i], replaced = replaceFrameAncestors(v, policy)
		}
		if !replaced {
			h.Add("Content-Security-Policy", policy)
		}
		h.Del("X-Frame-Options")
	}
	if p.crossSiteCookies {
		cookies := h.Values("Set-Cookie")
		for i, v := range cookies {
			cookies[i] = crossSiteCookie(v)
		}
	}
}

// replaceFrameAncestors replaces the frame-ancestors directive of a policy
// and reports whether it had one.
func replaceFrameAncestors(policy, directive string) (string, bool) {
	parts := strings.Split(policy, ";")
	found := false
	out := parts[:0]
	for _, d := range parts {
		name, _, _ := strings.Cut(strings.TrimSpace(d), " ")
		if strings.EqualFold(name, "frame-ancestors") {
			if !found {
				out = append(out, " "+directive)
			}
			found = true
			continue
		}
		out = append(out, d)
	}
	if !found {
		return policy, false
	}
	return strings.TrimSpace(strings.Join(out, ";")), true
}

// crossSiteCookie rewrites a Set-Cookie value to be sent in third-party
// frames: Secure, SameSite=None and Partitioned (kept apart per top-level
// site, so browsers that block third-party cookies keep it). Other
// attributes pass unchanged.
func crossSiteCookie(v string) string {
	parts := strings.Split(v, ";")
	out := []string{strings.TrimSpace(parts[0])}
	for _, a := range parts[1:] {
		name, _, _ := strings.Cut(strings.TrimSpace(a), "=")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "samesite", "secure", "partitioned", "":
			continue
		}
		out = append(out, strings.TrimSpace(a))
	}
	return strings.Join(append(out, "Secure", "SameSite=None", "Partitioned"), "; ")
}
