package lti

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"time"
)

// PlatformLookup finds the registration for a token's issuer and client id
// (the client id is azp when present, else the single aud). It returns
// ErrUnknownPlatform when there is none.
type PlatformLookup func(ctx context.Context, issuer, clientID string) (Platform, error)

// Defaults of an LTI13Verifier.
const (
	DefaultLeeway = 60 * time.Second
	DefaultMaxAge = 10 * time.Minute
)

// LTI13Verifier verifies LTI 1.3 id_tokens posted to the launch URL.
type LTI13Verifier struct {
	// Keys provides the platforms' public keys. It must be set.
	Keys *KeySetCache
	// Lookup finds registrations. It must be set.
	Lookup PlatformLookup
	// Nonces records used nonces. It must be set.
	Nonces NonceStore
	// Leeway is the clock skew tolerated on exp, iat and nbf. If zero,
	// DefaultLeeway is used: Moodle's tokens live only 60 s.
	Leeway time.Duration
	// MaxAge is how old iat may be, plus Leeway. If zero, DefaultMaxAge is
	// used.
	MaxAge time.Duration
	// Now returns the current time. If nil, time.Now is used.
	Now func() time.Time
	// Roles maps role names to course roles.
	Roles RoleMapping
	// AcceptDeployment decides whether a deployment id is accepted for a
	// platform. If nil, it must be one of Platform.Deployments. An error that
	// is not an [*Error] becomes an unknown_deployment error.
	AcceptDeployment func(ctx context.Context, p Platform, deploymentID string) error
}

const clockHint = "Check that the LMS server's clock is synchronised (NTP)."

// Verify verifies an id_token and returns the launch and the platform it came
// from. expectedNonce is the nonce of the login state the launch carried.
//
// The token is checked in this order, each failure with its own code: JWS
// compact form; RS256 header; iss; aud (azp required when aud lists several
// audiences, and then one of them); the registration; the signature, with the
// platform's keyset; exp, iat and nbf with leeway; nonce; deployment_id;
// version; message type and what it requires; sub; roles; then the caller's
// checks, in order. Only when all pass is the nonce recorded, so a rejected
// token never uses up storage.
//
// The caller passes every check of its own that can reject the launch, such
// as that the platform is the one the state was issued for ([State.Match]),
// as checks, so that none of them runs after the nonce is recorded.
func (v *LTI13Verifier) Verify(
	ctx context.Context, idToken, expectedNonce string, checks ...func(Platform, *Launch) error,
) (*Launch, Platform, error) {
	if v.Keys == nil || v.Lookup == nil || v.Nonces == nil {
		return nil, Platform{}, newError(CodeMisconfigured, http.StatusInternalServerError, "", nil,
			"lti 1.3 verifier needs a keyset cache, a platform lookup and a nonce store")
	}
	tok, perr := parseCompact(idToken)
	if perr != nil {
		return nil, Platform{}, perr
	}
	c := tok.claims

	// The algorithm is fixed, never taken from the token: "none", HMAC keyed
	// with the public key, and other algorithms are all refused.
	if alg, _ := tok.header["alg"].(string); alg != "RS256" {
		return nil, Platform{}, newError(CodeBadAlgorithm, http.StatusUnauthorized, "", nil,
			"id_token is signed with %s, only RS256 is accepted", quote(alg))
	}
	if _, ok := tok.header["crit"]; ok {
		return nil, Platform{}, malformed(CodeBadToken, "id_token header has critical extensions")
	}
	kid, ok := tok.header["kid"].(string)
	if _, present := tok.header["kid"]; present && !ok {
		return nil, Platform{}, malformed(CodeBadToken, "id_token kid is not a string")
	}

	iss, _ := c["iss"].(string)
	if iss == "" {
		return nil, Platform{}, malformed(CodeBadIssuer, "iss is missing")
	}
	aud, ok := audiences(c["aud"])
	if !ok {
		return nil, Platform{}, newError(CodeBadAudience, http.StatusUnauthorized, "", nil,
			"aud is missing or not a string or array of strings")
	}
	clientID := aud[0]
	azp, hasAZP := c["azp"]
	if len(aud) > 1 && !hasAZP {
		return nil, Platform{}, newError(CodeMissingAZP, http.StatusUnauthorized, "", nil,
			"aud lists %d audiences and azp is missing", len(aud))
	}
	if hasAZP {
		s, _ := azp.(string)
		if s == "" || !slices.Contains(aud, s) {
			return nil, Platform{}, newError(CodeBadAZP, http.StatusUnauthorized, "", nil,
				"azp %s is not one of the audiences", quote(s))
		}
		clientID = s
	}

	p, err := v.Lookup(ctx, iss, clientID)
	// A lookup that answers with another registration is treated as no answer.
	mismatch := err == nil && (p.Issuer != iss || p.ClientID != clientID)
	if errors.Is(err, ErrUnknownPlatform) || mismatch {
		return nil, Platform{}, newError(CodeUnknownPlatform, http.StatusUnauthorized,
			"Register the platform in Labhub with exactly this issuer and client id.", ErrUnknownPlatform,
			"no platform registered for issuer %s and client id %s", quote(iss), quote(clientID))
	}
	if err != nil {
		return nil, Platform{}, newError(CodeStoreError, http.StatusInternalServerError, "", err,
			"look up platform %s", quote(iss))
	}

	pub, err := v.Keys.Key(ctx, p.JWKSURL, kid)
	if err != nil {
		return nil, p, err
	}
	digest := sha256.Sum256(tok.signed)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], tok.signature); err != nil {
		return nil, p, newError(CodeBadSignature, http.StatusUnauthorized,
			"The id_token's signature does not verify with the platform's published key of the same key "+
				"ID; check the keyset URL in Labhub's registration of the platform.", nil,
			"id_token signature does not verify with the platform's key %s", quote(kid))
	}

	// From here on the claims are the platform's.
	if e := v.checkTimes(c); e != nil {
		return nil, p, e
	}
	nonce, _ := c["nonce"].(string)
	if expectedNonce == "" || subtle.ConstantTimeCompare([]byte(nonce), []byte(expectedNonce)) != 1 {
		return nil, p, newError(CodeBadNonce, http.StatusUnauthorized, "", nil,
			"nonce does not match the login that started this launch")
	}
	if e := v.checkDeployment(ctx, p, str(c, claimDeploymentID)); e != nil {
		return nil, p, e
	}
	if e := checkMessage(c); e != nil {
		return nil, p, e
	}
	l := launchFrom13(c, clientID, v.Roles)
	for _, check := range checks {
		if err := check(p, l); err != nil {
			return nil, p, err
		}
	}

	// The nonce is kept past the last instant the token is accepted
	// (exp+leeway still is, and entries expire at their expiry).
	exp, _, _ := numericDate(c, "exp")
	err = v.Nonces.UseNonce(ctx, p.ID, nonce, exp.Add(v.leeway()+time.Second))
	if errors.Is(err, ErrReplay) {
		return nil, p, newError(CodeReplayedNonce, http.StatusUnauthorized, "", err,
			"id_token nonce was already used")
	}
	if err != nil {
		return nil, p, newError(CodeStoreError, http.StatusInternalServerError, "", err, "record nonce")
	}
	return l, p, nil
}

// audiences reads aud, a string or a non-empty array of strings.
func audiences(v any) ([]string, bool) {
	switch v := v.(type) {
	case string:
		return []string{v}, v != ""
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok || s == "" {
				return nil, false
			}
			out = append(out, s)
		}
		return out, len(out) > 0
	}
	return nil, false
}

func (v *LTI13Verifier) checkTimes(c map[string]any) *Error {
	now, leeway := v.now(), v.leeway()
	maxAge := v.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	exp, ok, err := numericDate(c, "exp")
	if err != nil || !ok {
		return malformed(CodeBadToken, "exp is missing or not a number")
	}
	if now.After(exp.Add(leeway)) {
		return newError(CodeExpired, http.StatusUnauthorized, clockHint, nil,
			"id_token expired %s ago", now.Sub(exp).Round(time.Second))
	}
	iat, ok, err := numericDate(c, "iat")
	if err != nil || !ok {
		return malformed(CodeBadToken, "iat is missing or not a number")
	}
	if iat.After(now.Add(leeway)) {
		return newError(CodeIssuedInFuture, http.StatusUnauthorized, clockHint, nil,
			"id_token was issued %s in the future", iat.Sub(now).Round(time.Second))
	}
	if now.Sub(iat) > maxAge+leeway {
		return newError(CodeStaleToken, http.StatusUnauthorized, clockHint, nil,
			"id_token was issued %s ago, more than %s", now.Sub(iat).Round(time.Second), maxAge)
	}
	nbf, ok, err := numericDate(c, "nbf")
	if err != nil {
		return malformed(CodeBadToken, "nbf is not a number")
	}
	if ok && nbf.After(now.Add(leeway)) {
		return newError(CodeNotYetValid, http.StatusUnauthorized, clockHint, nil,
			"id_token is not valid for another %s", nbf.Sub(now).Round(time.Second))
	}
	return nil
}

func (v *LTI13Verifier) checkDeployment(ctx context.Context, p Platform, id string) *Error {
	if id == "" {
		return malformed(CodeMissingDeployment, "deployment_id is missing")
	}
	hint := "Add deployment id " + quote(id) + " to the platform's registration in Labhub."
	if v.AcceptDeployment == nil {
		if slices.Contains(p.Deployments, id) {
			return nil
		}
		return newError(CodeUnknownDeployment, http.StatusForbidden, hint, nil,
			"deployment %s is not registered for platform %s", quote(id), quote(p.Issuer))
	}
	err := v.AcceptDeployment(ctx, p, id)
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return newError(CodeUnknownDeployment, http.StatusForbidden, hint, err,
		"deployment %s is not accepted for platform %s", quote(id), quote(p.Issuer))
}

// claimLegacyUserID is the LTI 1.1 user_id of the person, sent by platforms
// that migrated tools from LTI 1.1.
const claimLegacyUserID = claimNS + "lti11_legacy_user_id"

// subject returns the person's id: sub (a string, or a number some
// platforms send), else the LTI 1.1 user id marked as such so that it
// cannot collide with another person's sub.
func subject(c map[string]any) string {
	if s := str(c, "sub"); s != "" {
		return s
	}
	if s := str(c, claimLegacyUserID); s != "" {
		return "lti11:" + s
	}
	return ""
}

// checkMessage checks the LTI claims a launch needs.
func checkMessage(c map[string]any) *Error {
	if ver := str(c, claimVersion); ver != "1.3.0" {
		return malformed(CodeBadVersion, "version is %s, not 1.3.0", quote(ver))
	}
	switch mt := str(c, claimMessageType); mt {
	case MessageResourceLink:
		if str(obj(c, claimResourceLink), "id") == "" {
			return malformed(CodeMissingResource, "resource_link.id is missing")
		}
	case MessageDeepLinking:
		if str(obj(c, claimDeepLinking), "deep_link_return_url") == "" {
			return malformed(CodeMissingReturnURL, "deep_linking_settings.deep_link_return_url is missing")
		}
	default:
		e := malformed(CodeUnsupported, "message_type %s is not supported", quote(mt))
		e.Hint = "Labhub handles resource link launches and deep linking requests only."
		return e
	}
	// A deep linking request needs no identity: the picker only needs the
	// roles. A launch without sub is anonymous unless the platform names
	// the person by their LTI 1.1 user id.
	if subject(c) == "" && str(c, claimMessageType) != MessageDeepLinking {
		e := malformed(CodeMissingSubject, "sub is missing and there is no lti11_legacy_user_id")
		e.Hint = "The LMS launched anonymously. Labhub needs to know who launches: configure the tool " +
			"in the LMS to share the user's identity (Canvas: privacy level other than anonymous)."
		return e
	}
	if _, ok := c[claimRoles].([]any); !ok {
		return malformed(CodeMissingRoles, "roles claim is missing")
	}
	return nil
}

func (v *LTI13Verifier) leeway() time.Duration {
	if v.Leeway > 0 {
		return v.Leeway
	}
	return DefaultLeeway
}

func (v *LTI13Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}
