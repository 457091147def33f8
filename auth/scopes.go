package auth

import (
	"fmt"
	"slices"
	"strings"
)

// KnownScopes lists the scopes Labhub checks anywhere, without filters:
// grades and handins for the grading API, admin:images for the image
// catalog API, and the JupyterHub scopes servers' tokens carry.
var KnownScopes = []string{"grades", "handins", "admin:images", "access:servers", "users:activity", "read:users:name"}

// ValidateScope checks that s is a scope Labhub knows: one of KnownScopes,
// optionally with one filter "!user=NAME" or "!server=OWNER/NAME".
func ValidateScope(s string) error {
	base, filter, filtered := strings.Cut(s, "!")
	if !slices.Contains(KnownScopes, base) {
		return fmt.Errorf("unknown scope %q: use one of %s, optionally with !user=NAME or !server=OWNER/NAME",
			s, strings.Join(KnownScopes, ", "))
	}
	if !filtered {
		return nil
	}
	if u, ok := strings.CutPrefix(filter, "user="); ok && u != "" && !strings.ContainsAny(u, "/!") {
		return nil
	}
	if srv, ok := strings.CutPrefix(filter, "server="); ok {
		if owner, name, ok := strings.Cut(srv, "/"); ok && owner != "" && name != "" && !strings.ContainsAny(srv, "!") {
			return nil
		}
	}
	return fmt.Errorf("scope %q: a filter is !user=NAME or !server=OWNER/NAME", s)
}
