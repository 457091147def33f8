package lti

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SecretLookup returns the shared secret of a consumer key, or
// ErrUnknownConsumer.
type SecretLookup func(ctx context.Context, consumerKey string) (string, error)

// DefaultWindow is the LTI 1.1 timestamp window when LTI11Verifier.Window is
// zero. Moodle accepts OAuth messages up to 300 s old; a narrower window
// turns ordinary clock skew into failed launches.
const DefaultWindow = 300 * time.Second

// maxNonceLen bounds what a launch can make the nonce store hold.
const maxNonceLen = 256

// LTI11Verifier verifies LTI 1.1 launches signed with OAuth 1.0a HMAC-SHA1.
type LTI11Verifier struct {
	// Secrets finds a consumer's shared secret. It must be set.
	Secrets SecretLookup
	// Nonces records used nonces. It must be set: without it a captured
	// launch could be replayed within the window.
	Nonces NonceStore
	// Window is how far oauth_timestamp may be from now, either side. If
	// zero, DefaultWindow is used.
	Window time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
	// Roles maps role names to course roles.
	Roles RoleMapping
}

const signHint = "Check that the consumer key and shared secret configured in the LMS match " +
	"the ones in Labhub, and that the tool URL in the LMS is exactly Labhub's public launch URL " +
	"(scheme, host, port and path): the signature covers the URL."

// Verify checks an LTI 1.1 launch and returns it. signedURL is the URL the
// LMS signed: the caller computes it from the configured public URL or from
// trusted forwarding headers. params are the query and body parameters
// together (as net/http's Request.Form holds them); any query in signedURL is
// ignored for that reason.
//
// The checks run in this order, and the nonce is recorded only when all
// others passed, so a forged launch cannot fill the nonce store:
//  1. the OAuth protocol parameters are present and supported;
//  2. oauth_timestamp is within Window of now;
//  3. the consumer key is known;
//  4. the signature matches, compared in constant time;
//  5. the LTI parameters describe a launch Labhub handles, and the caller's
//     checks, in order, accept it;
//  6. the nonce has not been used under this consumer key.
func (v *LTI11Verifier) Verify(
	ctx context.Context, method, signedURL string, params url.Values, checks ...func(*Launch) error,
) (*Launch, error) {
	if v.Secrets == nil || v.Nonces == nil {
		return nil, newError(CodeMisconfigured, http.StatusInternalServerError, "", nil,
			"lti 1.1 verifier needs a secret lookup and a nonce store")
	}
	// Step 1: protocol parameters. Each may appear once only (RFC 5849 §3.1).
	op := map[string]string{}
	for _, name := range []string{"oauth_consumer_key", "oauth_signature", "oauth_signature_method",
		"oauth_timestamp", "oauth_nonce", "oauth_version", "oauth_callback"} {
		vs := params[name]
		if len(vs) > 1 {
			return nil, malformed(CodeBadParameter, "%s is repeated", name)
		}
		if len(vs) == 1 {
			op[name] = vs[0]
		}
	}
	for _, name := range []string{"oauth_consumer_key", "oauth_signature", "oauth_signature_method",
		"oauth_timestamp", "oauth_nonce"} {
		if op[name] == "" {
			return nil, malformed(CodeMissingParameter, "%s is missing", name)
		}
	}
	if m := op["oauth_signature_method"]; m != "HMAC-SHA1" {
		e := malformed(CodeBadSignatureMethod, "oauth_signature_method is %s, not HMAC-SHA1", quote(m))
		e.Hint = "Labhub accepts LTI 1.1 launches signed with HMAC-SHA1 only."
		return nil, e
	}
	if ver, ok := op["oauth_version"]; ok && ver != "1.0" {
		return nil, malformed(CodeBadVersion, "oauth_version is %s, not 1.0", quote(ver))
	}
	if len(op["oauth_nonce"]) > maxNonceLen {
		return nil, malformed(CodeBadParameter, "oauth_nonce is longer than %d bytes", maxNonceLen)
	}

	// Step 2: timestamp, both directions.
	ts, err := parseTimestamp(op["oauth_timestamp"])
	if err != nil {
		return nil, malformed(CodeBadTimestamp, "oauth_timestamp %s is not a decimal number of seconds",
			quote(op["oauth_timestamp"]))
	}
	window, now := v.window(), v.now()
	if d := now.Sub(ts); d > window || d < -window {
		return nil, newError(CodeStaleTimestamp, http.StatusUnauthorized,
			"Check that the LMS server's clock is synchronised (NTP); Labhub accepts launches at most "+
				window.String()+" away from its own clock.",
			nil, "oauth_timestamp is %s away from the server clock, more than %s",
			d.Round(time.Second), window)
	}

	// Step 3: consumer.
	key := op["oauth_consumer_key"]
	secret, err := v.Secrets(ctx, key)
	if errors.Is(err, ErrUnknownConsumer) {
		return nil, newError(CodeUnknownConsumer, http.StatusUnauthorized,
			"Check that the consumer key configured in the LMS is one Labhub knows.", err,
			"consumer key %s is not registered", quote(key))
	}
	if err != nil {
		return nil, newError(CodeStoreError, http.StatusInternalServerError, "", err,
			"look up consumer %s", quote(key))
	}

	// Step 4: signature.
	base := signedURL
	if i := strings.IndexAny(base, "?#"); i >= 0 {
		base = base[:i]
	}
	want, err := Sign(method, base, params, secret, "")
	if err != nil {
		return nil, newError(CodeBadSignature, http.StatusUnauthorized, "", err,
			"cannot compute the signature")
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(op["oauth_signature"])) != 1 {
		return nil, newError(CodeBadSignature, http.StatusUnauthorized, signHint, nil,
			"signature does not match for %s %s and consumer %s", quote(method), quote(base), quote(key))
	}

	// Step 5: the launch itself, and the caller's checks: each that can
	// reject runs before the nonce is recorded.
	l, lerr := launchFrom11(params, key, base, v.Roles)
	if lerr != nil {
		return nil, lerr
	}
	for _, check := range checks {
		if err := check(l); err != nil {
			return nil, err
		}
	}

	// Step 6: nonce, kept past the last instant the timestamp is acceptable
	// (ts+window is still accepted, and entries expire at their expiry).
	err = v.Nonces.UseNonce(ctx, key, op["oauth_nonce"], ts.Add(window+time.Second))
	if errors.Is(err, ErrReplay) {
		return nil, newError(CodeReplayedNonce, http.StatusUnauthorized, "", err,
			"nonce of consumer %s was already used", quote(key))
	}
	if err != nil {
		return nil, newError(CodeStoreError, http.StatusInternalServerError, "", err, "record nonce")
	}
	return l, nil
}

func (v *LTI11Verifier) window() time.Duration {
	if v.Window > 0 {
		return v.Window
	}
	return DefaultWindow
}

func (v *LTI11Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// parseTimestamp accepts decimal digits only: strconv would also take a sign.
func parseTimestamp(s string) (time.Time, error) {
	if s == "" || len(s) > 12 {
		return time.Time{}, errors.New("bad length")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, errors.New("not a digit")
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(n, 0), nil
}

// launchFrom11 checks the LTI parameters of a signed launch and builds it.
func launchFrom11(
	params url.Values, consumerKey, signedURL string, m RoleMapping,
) (*Launch, *Error) {
	get := params.Get
	l := &Launch{Version: "1.1", ConsumerKey: consumerKey, TargetLinkURI: signedURL}
	switch mt := get("lti_message_type"); mt {
	case "basic-lti-launch-request":
		l.MessageType = MessageResourceLink
	case "ContentItemSelectionRequest":
		l.MessageType = MessageDeepLinking
	case "":
		return nil, malformed(CodeMissingParameter, "lti_message_type is missing")
	default:
		e := malformed(CodeUnsupported, "lti_message_type %s is not supported", quote(mt))
		e.Hint = "Labhub handles basic launches (basic-lti-launch-request) only."
		return nil, e
	}
	if ver := get("lti_version"); ver != "LTI-1p0" && ver != "LTI-1p2" {
		return nil, malformed(CodeBadVersion, "lti_version is %s, not LTI-1p0 or LTI-1p2", quote(ver))
	}
	l.Subject = get("user_id")
	if l.Subject == "" {
		e := malformed(CodeMissingParameter, "user_id is missing")
		e.Hint = "Labhub does not accept anonymous launches: configure the LMS to send the user's id."
		return nil, e
	}
	l.raw = make(map[string]any, len(params))
	for k, vs := range params {
		if len(vs) > 0 {
			l.raw[k] = vs[0]
		}
	}
	l.Name = get("lis_person_name_full")
	l.GivenName, l.FamilyName = get("lis_person_name_given"), get("lis_person_name_family")
	l.Email = get("lis_person_contact_email_primary")
	for _, r := range strings.Split(get("roles"), ",") {
		if r = strings.TrimSpace(r); r != "" {
			l.RawRoles = append(l.RawRoles, r)
		}
	}
	l.Roles = m.Parse(l.RawRoles)
	l.Context = Context{
		ID: get("context_id"), Label: get("context_label"), Title: get("context_title"),
	}
	for _, t := range strings.Split(get("context_type"), ",") {
		if t = contextType(t); t != "" {
			l.Context.Types = append(l.Context.Types, t)
		}
	}
	l.ResourceLink = ResourceLink{ID: get("resource_link_id"), Title: get("resource_link_title"),
		Description: get("resource_link_description")}
	if l.MessageType == MessageResourceLink && l.ResourceLink.ID == "" {
		return nil, malformed(CodeMissingParameter, "resource_link_id is missing")
	}
	for k, vs := range params {
		if name, ok := strings.CutPrefix(k, "custom_"); ok && name != "" && len(vs) > 0 {
			if l.Custom == nil {
				l.Custom = map[string]string{}
			}
			l.Custom[name] = vs[0]
		}
	}
	if svc, id := get("lis_outcome_service_url"), get("lis_result_sourcedid"); svc != "" && id != "" {
		l.Outcome = &BasicOutcome{ServiceURL: svc, SourcedID: id}
	}
	if l.MessageType == MessageDeepLinking {
		l.DeepLinking = &DeepLinkingSettings{
			ReturnURL:                         get("content_item_return_url"),
			AcceptTypes:                       splitList(get("accept_media_types")),
			AcceptPresentationDocumentTargets: splitList(get("accept_presentation_document_targets")),
			AcceptMultiple:                    boolish(get("accept_multiple")),
			AutoCreate:                        boolish(get("auto_create")),
			Title:                             get("title"),
			Text:                              get("text"),
			Data:                              get("data"),
		}
		if l.DeepLinking.ReturnURL == "" {
			return nil, malformed(CodeMissingReturnURL, "content_item_return_url is missing")
		}
	}
	l.Presentation = Presentation{
		DocumentTarget: get("launch_presentation_document_target"),
		ReturnURL:      get("launch_presentation_return_url"),
		Locale:         get("launch_presentation_locale"),
		Width:          intish(get("launch_presentation_width")),
		Height:         intish(get("launch_presentation_height")),
	}
	l.ToolPlatform = ToolPlatform{
		GUID:              get("tool_consumer_instance_guid"),
		Name:              get("tool_consumer_instance_name"),
		ProductFamilyCode: get("tool_consumer_info_product_family_code"),
		Version:           get("tool_consumer_info_version"),
	}
	l.Username = l.findUsername()
	return l, nil
}

func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
