package lti

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors that storage callbacks return and that callers can test for
// with errors.Is, also through an [*Error].
var (
	// ErrReplay reports that a nonce was already used within its lifetime.
	ErrReplay = errors.New("lti: nonce already used")
	// ErrUnknownConsumer reports that no LTI 1.1 consumer has the key.
	ErrUnknownConsumer = errors.New("lti: unknown consumer key")
	// ErrUnknownPlatform reports that no LTI 1.3 registration matches an
	// issuer and client id.
	ErrUnknownPlatform = errors.New("lti: unknown platform")
)

// Error codes carried by [Error.Code]. They are stable: the web layer and
// operators may match on them.
const (
	CodeMissingParameter   = "missing_parameter"     // a required parameter is absent or empty
	CodeBadParameter       = "bad_parameter"         // a parameter is repeated, too long or malformed
	CodeBadSignatureMethod = "bad_signature_method"  // oauth_signature_method is not HMAC-SHA1
	CodeBadTimestamp       = "bad_timestamp"         // oauth_timestamp is not a decimal number
	CodeStaleTimestamp     = "stale_timestamp"       // oauth_timestamp is outside the window
	CodeUnknownConsumer    = "unknown_consumer"      // the consumer key is not registered
	CodeBadSignature       = "bad_signature"         // the signature does not verify
	CodeReplayedNonce      = "replayed_nonce"        // the nonce was already used
	CodeUnsupported        = "unsupported_message"   // the message type is not one Labhub handles
	CodeBadVersion         = "bad_version"           // the LTI or OAuth version is not supported
	CodeBadToken           = "bad_token"             // the id_token is not a well-formed JWS
	CodeBadAlgorithm       = "bad_algorithm"         // the id_token is not signed with RS256
	CodeBadIssuer          = "bad_issuer"            // the iss claim is missing
	CodeBadAudience        = "bad_audience"          // the aud claim is missing or malformed
	CodeMissingAZP         = "missing_azp"           // aud lists several audiences and azp is absent
	CodeBadAZP             = "bad_azp"               // azp is not one of the audiences
	CodeUnknownPlatform    = "unknown_platform"      // no registration for issuer and client id
	CodeUnknownKey         = "unknown_key"           // the platform keyset has no key for the token
	CodeKeySetUnavailable  = "keyset_unavailable"    // the platform keyset could not be fetched
	CodeExpired            = "expired"               // exp has passed (beyond the leeway)
	CodeIssuedInFuture     = "issued_in_future"      // iat is in the future (beyond the leeway)
	CodeStaleToken         = "stale_token"           // iat is older than the verifier's MaxAge
	CodeNotYetValid        = "not_yet_valid"         // nbf is in the future (beyond the leeway)
	CodeBadNonce           = "bad_nonce"             // nonce does not match the login's state
	CodeMissingDeployment  = "missing_deployment"    // deployment_id is absent or empty
	CodeUnknownDeployment  = "unknown_deployment"    // deployment_id is not accepted for the platform
	CodeMissingResource    = "missing_resource_link" // a resource link launch has no resource_link.id
	CodeMissingReturnURL   = "missing_return_url"    // a deep linking request has no return URL
	CodeMissingSubject     = "missing_subject"       // sub is absent: anonymous launches are refused
	CodeMissingRoles       = "missing_roles"         // the roles claim is absent
	CodeBadState           = "bad_state"             // the login state is forged, malformed or foreign
	CodeExpiredState       = "expired_state"         // the login state is older than its TTL
	CodePlatformError      = "platform_error"        // the platform answered the login with an error
	CodeStoreError         = "store_error"           // a storage callback failed
	CodeMisconfigured      = "misconfigured"         // the verifier is missing a dependency
)

// Error is the error every verification in this package returns, so that the
// web layer can render a page a person can act on.
type Error struct {
	// Code is a stable machine code, one of the Code constants.
	Code string
	// Status is the HTTP status to answer: 400 for a malformed request, 401
	// when authentication failed, 403 when an authentic request is refused,
	// 5xx when Labhub or the platform's keyset is at fault.
	Status int
	// Detail is a lowercase sentence fragment for logs and administrators
	// saying what exactly was wrong. It never contains secrets; values taken
	// from the request are quoted and shortened.
	Detail string
	// Hint is a sentence for the LMS administrator saying what to fix in the
	// registration, or "" when there is nothing to fix on their side.
	Hint string
	// Err is the underlying cause, or nil.
	Err error
}

// Error returns the code, the detail and the cause on one line.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("lti: ")
	b.WriteString(e.Code)
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		// The sentinels carry the package prefix already.
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "lti: "))
	}
	return b.String()
}

// Unwrap returns the cause, so errors.Is finds the sentinels.
func (e *Error) Unwrap() error { return e.Err }

func newError(code string, status int, hint string, err error, format string, args ...any) *Error {
	return &Error{
		Code: code, Status: status, Detail: fmt.Sprintf(format, args...), Hint: hint, Err: err,
	}
}

func malformed(code, format string, args ...any) *Error {
	return newError(code, http.StatusBadRequest, "", nil, format, args...)
}

// quote returns s quoted for a log line and shortened, because request values
// reach Error.Detail and may be long or contain control characters.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q...", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}

// ParsePlatformError returns the error a platform posted back to the launch
// URL instead of an id_token (OpenID Connect Core §3.2.2.6, for example
// error=login_required), or nil when params carry no error.
func ParsePlatformError(params url.Values) *Error {
	code := params.Get("error")
	if code == "" {
		return nil
	}
	desc := printable(params.Get("error_description"))
	e := &Error{
		Code: CodePlatformError, Status: http.StatusBadRequest,
		Err: errors.New("platform answered " + quote(code)),
	}
	e.Detail = "the platform refused the login with " + quote(code)
	if desc != "" {
		e.Detail += " (" + quote(desc) + ")"
	}
	switch code {
	case "login_required", "interaction_required", "consent_required":
		// The person is not logged in to the LMS as seen from this browser
		// window, usually because the LMS session cookie was not sent.
		e.Hint = "The LMS did not see its own login session in this browser window (its session " +
			"cookie was not sent). The LMS must be served over HTTPS so its cookies work in the cross-site " +
			"login; otherwise the person may simply have been logged out of the LMS."
	case "access_denied":
		e.Status = http.StatusForbidden
		e.Hint = "The LMS refused the login for this person; they may be logged in to the LMS as " +
			"someone else in another tab, or lack the right to use the tool."
	case "invalid_request", "invalid_request_uri":
		e.Hint = "Check that the redirection URI registered for the tool in the LMS is exactly " +
			"Labhub's launch URL, and that the login initiation URL is Labhub's login URL."
	case "unauthorized_client":
		e.Hint = "Check that the client ID configured in Labhub for this platform matches " +
			"the one the LMS shows for the tool."
	case "invalid_scope", "unsupported_response_type":
		e.Hint = "The LMS rejected Labhub's authentication request; check that the tool is " +
			"registered in the LMS as an LTI 1.3 tool."
	default:
		e.Hint = HintFor(CodePlatformError)
	}
	return e
}

// printable drops control characters, which have no place in a log line.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}
