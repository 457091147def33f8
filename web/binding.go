package web

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labhub/labhub/lti"
)

// binding is what the Labhub cookies of an LTI 1.3 launch post tell about
// the browser that posted it.
type binding int

const (
	// bindingNone: the post carries no Labhub cookie at all, as from a
	// browser that refuses Labhub's cookies inside the LMS page.
	bindingNone binding = iota
	// bindingOwn: the post carries the state cookie of its own login.
	bindingOwn
	// bindingForeign: the post carries Labhub cookies, so they work here,
	// but not the state cookie of its login: the login began elsewhere.
	bindingForeign
)

// launchBinding reads the binding of a launch post for the login stateID.
func launchBinding(r *http.Request, stateID string) binding {
	own := stateCookieName(stateID)
	b := bindingNone
	for _, ck := range r.Cookies() {
		switch {
		case ck.Name == own && subtle.ConstantTimeCompare([]byte(ck.Value), []byte(stateID)) == 1:
			return bindingOwn
		case OwnCookie(ck.Name):
			b = bindingForeign
		}
	}
	return b
}

// errForeignBrowser refuses a launch posted to a browser that keeps
// Labhub's cookies but not the state cookie of the launch's login: another
// site may be logging the browser in with a launch of its own.
var errForeignBrowser = &lti.Error{Code: lti.CodeStateMismatch, Status: http.StatusForbidden,
	Detail: "the browser keeps Labhub's cookies here but holds none for this login",
	Hint: "The launch did not begin in this browser: it was opened from another browser or window, or " +
		"another site posted it (login forgery). A launch started from the LMS course page in this " +
		"browser works."}

// hasStateCookie reports whether a request carries the state cookie of any
// LTI 1.3 login.
func hasStateCookie(r *http.Request) bool {
	for _, ck := range r.Cookies() {
		if strings.HasPrefix(ck.Name, stateCookiePrefix) {
			return true
		}
	}
	return false
}
