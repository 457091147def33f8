package course

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/labhub/labhub/spawner"
)

// PathEscape escapes a user or server name for a URL path the way JupyterHub
// does (Python's quote with "@" and "~" safe): every byte outside
// [A-Za-z0-9_.~@-] becomes %XX.
func PathEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '.' || c == '-' || c == '~' || c == '@' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// ServerPrefix is the URL path of a user's server under base ("/" or
// "/prefix/"), ending in "/".
func ServerPrefix(base, user, server string) string {
	return base + "user/" + PathEscape(user) + "/" + PathEscape(server) + "/"
}

// ClientID is the OAuth client id of a server's jupyterhub-singleuser. The
// escaped parts never contain "--", so the id is unique per server.
func ClientID(user, server string) string {
	return "jupyterhub-user-" + spawner.Escape(user) + "--" + spawner.Escape(server)
}

// maxNameLen bounds usernames in characters.
const maxNameLen = 100

// NormalizeUsername returns the canonical form of a username: Unicode NFC,
// lower case, surrounding space removed. ok is false when the result cannot
// be a username (empty, too long, or with "/", "\" or control characters).
func NormalizeUsername(s string) (string, bool) {
	s = strings.ToLower(norm.NFC.String(strings.TrimSpace(s)))
	s = norm.NFC.String(s) // lower-casing can denormalise
	if s == "" || utf8.RuneCountInString(s) > maxNameLen || !utf8.ValidString(s) {
		return "", false
	}
	for _, r := range s {
		if r == '/' || r == '\\' || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return "", false
		}
	}
	return s, true
}

// maxSlugLen bounds course slugs.
const maxSlugLen = 40

// Slug turns a course label or title into a short URL-friendly name:
// lower-case letters and digits in runs joined by "-". It returns "course"
// when nothing usable is left.
func Slug(s string) string {
	s = strings.ToLower(norm.NFKD.String(s))
	var b strings.Builder
	dash := false
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		case unicode.Is(unicode.Mn, r):
			// Combining marks left by NFKD: "é" becomes "e".
		default:
			dash = true
		}
		if b.Len() >= maxSlugLen {
			break
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > maxSlugLen {
		out = strings.Trim(out[:maxSlugLen], "-")
	}
	if out == "" {
		return "course"
	}
	return out
}
