package proxy

import (
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
)

// clientHeaders are the request headers that describe the client rather than
// the request. Jupyter's server runs Tornado with xheaders enabled, which
// believes X-Real-Ip and X-Scheme as well as the X-Forwarded-* family, so
// all of them must come from the proxy or from a trusted front, never from
// the client.
var clientHeaders = []string{
	"Forwarded",
	"X-Forwarded-For",
	"X-Forwarded-Host",
	"X-Forwarded-Proto",
	"X-Forwarded-Port",
	"X-Real-Ip",
	"X-Scheme",
}

// setForwarded fills the outgoing request's client headers. A trusted front
// keeps what it sent, unchanged: Tornado takes the last X-Forwarded-For entry
// as the client address, so appending the front's own address would hide
// the real client. Gaps are filled as for an untrusted client so the
// container always learns the scheme and host.
func setForwarded(pr *httputil.ProxyRequest, trusted bool) {
	out, in := pr.Out.Header, pr.In.Header
	if trusted {
		// ReverseProxy has already dropped some of these from Out; restore
		// them from the inbound request.
		for _, h := range clientHeaders {
			if v, ok := in[h]; ok {
				out[h] = append([]string(nil), v...)
			}
		}
	} else {
		for _, h := range clientHeaders {
			delete(out, h)
		}
	}
	if _, ok := out["X-Forwarded-For"]; !ok {
		if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
			out.Set("X-Forwarded-For", ip)
		}
	}
	if _, ok := out["X-Forwarded-Host"]; !ok {
		out.Set("X-Forwarded-Host", pr.In.Host)
	}
	if _, ok := out["X-Forwarded-Proto"]; !ok {
		out.Set("X-Forwarded-Proto", scheme(pr.In))
	}
	if _, ok := out["X-Forwarded-Port"]; !ok {
		out.Set("X-Forwarded-Port", port(pr.In))
	}
}

// scheme returns the scheme the client used to reach this process.
func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// port returns the port the client addressed: the one in Host if present,
// else the scheme's default, as configurable-http-proxy reports it.
func port(r *http.Request) string {
	if _, p, err := net.SplitHostPort(r.Host); err == nil && p != "" {
		return p
	}
	if r.TLS != nil {
		return "443"
	}
	return "80"
}

// stripCookies removes the cookies for which strip reports true from h's
// Cookie header and keeps the others in order. Several Cookie lines (an
// HTTP/2 client may split them) are joined with "; " as RFC 9113 asks when
// forwarding over HTTP/1.1; Tornado would otherwise join them with a comma
// and misread the result. An empty header is removed rather than sent.
func stripCookies(h http.Header, strip func(name string) bool) {
	lines, ok := h["Cookie"]
	if !ok || strip == nil {
		return
	}
	kept := make([]string, 0, len(lines))
	for _, line := range lines {
		if v := filterCookieLine(line, strip); v != "" {
			kept = append(kept, v)
		}
	}
	switch len(kept) {
	case 0:
		delete(h, "Cookie")
	case 1:
		h["Cookie"] = kept
	default:
		h["Cookie"] = []string{strings.Join(kept, "; ")}
	}
}

// filterCookieLine returns line without the cookies strip selects. When
// nothing is removed the line comes back byte for byte.
func filterCookieLine(line string, strip func(name string) bool) string {
	var kept []string
	removed := false
	for part := range strings.SplitSeq(line, ";") {
		pair := trimCookieSpace(part)
		if pair == "" {
			continue
		}
		name, _, _ := strings.Cut(pair, "=")
		if strip(trimCookieSpace(name)) {
			removed = true
			continue
		}
		kept = append(kept, pair)
	}
	if !removed {
		if len(kept) == 0 {
			return ""
		}
		return line
	}
	return strings.Join(kept, "; ")
}

// trimCookieSpace trims the bytes Python's str.strip removes from a
// Latin-1 decoded header, which is how Tornado reads cookie names. Trimming
// less than Tornado would let "name\xa0=value" reach the container under a
// name the strip function never saw.
//
// The trim works on bytes, not runes: a cookie name need not be UTF-8, and
// strings.Trim would treat every invalid byte as one and the same rune.
func trimCookieSpace(s string) string {
	for len(s) > 0 && isCookieSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isCookieSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// isCookieSpace reports whether Python considers the Latin-1 character b
// whitespace.
func isCookieSpace(b byte) bool {
	switch b {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0:
		return true
	}
	return false
}

// upgradeType returns the protocol a request asks to switch to, or "" if it
// is not an upgrade request. It mirrors ReverseProxy's own test so the proxy
// wraps exactly the requests ReverseProxy will hijack.
func upgradeType(h http.Header) string {
	for _, v := range h["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return h.Get("Upgrade")
			}
		}
	}
	return ""
}
