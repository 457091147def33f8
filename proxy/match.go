package proxy

import (
	"net/url"
	"strings"
)

// matcher recognises <prefix>user/<name>/<server> at the start of a path.
type matcher struct {
	// fixed holds the decoded segments before the user name: the prefix's
	// segments followed by "user".
	fixed []string
}

// newMatcher builds a matcher for prefix, which is a URL path such as "/" or
// "/base/" (percent-encoded as it appears in URLs). Leading and trailing
// slashes are optional.
func newMatcher(prefix string) matcher {
	var fixed []string
	for _, seg := range strings.Split(strings.Trim(prefix, "/"), "/") {
		if seg == "" {
			continue
		}
		// A prefix that is not valid percent-encoding is matched literally;
		// it can only come from configuration, never from a client.
		if dec, err := url.PathUnescape(seg); err == nil {
			seg = dec
		}
		fixed = append(fixed, seg)
	}
	return matcher{fixed: append(fixed, "user")}
}

// match splits escaped, a request path in its escaped form, into the decoded
// user and server names it addresses. slash reports whether a "/" follows the
// server segment; without it the request is for the bare server URL, which
// is redirected. ok is false when the path is not a server path at all.
//
// The path is split on literal slashes before each segment is decoded, so
// "a%2Fb" is one name ("a/b"), as JupyterHub escapes it.
func (m matcher) match(escaped string) (user, server string, slash, ok bool) {
	rest, found := strings.CutPrefix(escaped, "/")
	if !found {
		return "", "", false, false
	}
	var seg string
	for _, want := range m.fixed {
		seg, rest, found = strings.Cut(rest, "/")
		if !found {
			return "", "", false, false
		}
		if dec, valid := decodeSegment(seg); !valid || dec != want {
			return "", "", false, false
		}
	}
	seg, rest, found = strings.Cut(rest, "/")
	if !found {
		// <prefix>user/<name> alone belongs to the hub (the default server,
		// which Labhub does not run).
		return "", "", false, false
	}
	if user, ok = decodeName(seg); !ok {
		return "", "", false, false
	}
	seg, _, slash = strings.Cut(rest, "/")
	if server, ok = decodeName(seg); !ok {
		return "", "", false, false
	}
	return user, server, slash, true
}

// decodeSegment percent-decodes one path segment, reporting whether it was
// valid.
func decodeSegment(seg string) (string, bool) {
	if !strings.Contains(seg, "%") {
		return seg, true
	}
	dec, err := url.PathUnescape(seg)
	return dec, err == nil
}

// decodeName decodes a user or server segment. Empty names and the dot
// segments are refused: no hub name is "." or "..", and a client or
// intermediary that normalises dot segments would send the request somewhere
// else than the route it matched here.
func decodeName(seg string) (string, bool) {
	name, ok := decodeSegment(seg)
	if !ok || name == "" || name == "." || name == ".." {
		return "", false
	}
	return name, true
}
