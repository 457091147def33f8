package lti

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Platform is one LTI 1.3 registration, as the caller's store hands it over.
type Platform struct {
	// ID is the store's opaque id of the registration; states carry it.
	ID string
	// Issuer is the platform's iss.
	Issuer string
	// ClientID is the client id the platform assigned to Labhub.
	ClientID string
	// AuthURL is the platform's OIDC authorization endpoint.
	AuthURL string
	// TokenURL is the platform's OAuth 2 token endpoint.
	TokenURL string
	// TokenAudience is the aud of client assertions sent to TokenURL. If
	// empty, TokenURL is used (Brightspace differs).
	TokenAudience string
	// JWKSURL is the platform's public keyset URL.
	JWKSURL string
	// Deployments are the deployment ids accepted for this registration.
	Deployments []string
}

// LoginRequest is an OIDC third-party login initiation from a platform.
type LoginRequest struct {
	Issuer        string // iss
	LoginHint     string // login_hint
	TargetLinkURI string // target_link_uri
	MessageHint   string // lti_message_hint, echoed byte for byte
	ClientID      string // client_id, optional
	DeploymentID  string // lti_deployment_id (Canvas: deployment_id), optional
	StorageTarget string // lti_storage_target (Canvas, Sakai), optional
}

// Length limits of login initiation parameters. The target link URI travels
// in the state, so it is kept short.
const (
	maxTargetLinkURILen = 2048
	maxLoginParamLen    = 4096
	// maxStorageTargetLen bounds lti_storage_target, a frame name that also
	// travels in the state.
	maxStorageTargetLen = 256
)

// ParseLoginRequest reads an OIDC login initiation (query or form
// parameters). iss, login_hint and target_link_uri are required; client_id,
// lti_deployment_id (or Canvas' deployment_id), lti_message_hint and
// lti_storage_target are optional. A repeated or overlong parameter is an
// error, and target_link_uri must be an absolute http(s) URL.
//
// The target link URI is whatever the sender chose: the caller must not
// redirect to it without checking that it points into Labhub.
func ParseLoginRequest(params url.Values) (LoginRequest, error) {
	get := func(name string, max int) (string, *Error) {
		vs := params[name]
		if len(vs) > 1 {
			return "", malformed(CodeBadParameter, "%s is repeated", name)
		}
		if len(vs) == 0 {
			return "", nil
		}
		if len(vs[0]) > max {
			return "", malformed(CodeBadParameter, "%s is longer than %d bytes", name, max)
		}
		return vs[0], nil
	}
	var lr LoginRequest
	fields := []struct {
		name string
		dst  *string
		max  int
	}{
		{"iss", &lr.Issuer, maxLoginParamLen},
		{"login_hint", &lr.LoginHint, maxLoginParamLen},
		{"target_link_uri", &lr.TargetLinkURI, maxTargetLinkURILen},
		{"lti_message_hint", &lr.MessageHint, maxLoginParamLen},
		{"client_id", &lr.ClientID, maxLoginParamLen},
		{"lti_deployment_id", &lr.DeploymentID, maxLoginParamLen},
		{"lti_storage_target", &lr.StorageTarget, maxStorageTargetLen},
	}
	for _, f := range fields {
		v, err := get(f.name, f.max)
		if err != nil {
			return LoginRequest{}, err
		}
		*f.dst = v
	}
	if lr.DeploymentID == "" {
		v, err := get("deployment_id", maxLoginParamLen)
		if err != nil {
			return LoginRequest{}, err
		}
		lr.DeploymentID = v
	}
	for _, req := range []struct{ name, v string }{
		{"iss", lr.Issuer}, {"login_hint", lr.LoginHint}, {"target_link_uri", lr.TargetLinkURI},
	} {
		if req.v == "" {
			return LoginRequest{}, malformed(CodeMissingParameter, "%s is missing", req.name)
		}
	}
	if u, err := url.Parse(lr.TargetLinkURI); err != nil || !u.IsAbs() || u.Host == "" ||
		u.Scheme != "http" && u.Scheme != "https" {
		return LoginRequest{}, malformed(CodeBadParameter,
			"target_link_uri %s is not an absolute http(s) url", quote(lr.TargetLinkURI))
	}
	return lr, nil
}

// authParams are the parameters AuthRequestURL sets; the platform's AuthURL
// must not already carry them.
var authParams = []string{"scope", "response_type", "response_mode", "prompt", "client_id",
	"redirect_uri", "login_hint", "state", "nonce", "lti_message_hint"}

// AuthRequestURL returns the URL of the OIDC authentication request (LTI 1.3
// core §5.1.1.2) to redirect the browser to: the platform's AuthURL, any query
// it has kept, plus scope=openid, response_type=id_token,
// response_mode=form_post, prompt=none, the registration's client_id,
// redirect_uri, login_hint, state, nonce and, when the login carried one,
// lti_message_hint exactly as received.
//
// redirectURI is the tool's registered launch URL, never the target link URI:
// platforms match it exactly against the registration.
func AuthRequestURL(p Platform, lr LoginRequest, redirectURI, state, nonce string) (string, error) {
	if p.ClientID == "" {
		return "", errors.New("build authentication request: platform has no client id")
	}
	if lr.Issuer != p.Issuer {
		return "", fmt.Errorf("build authentication request: login issuer %s is not the platform's %s",
			quote(lr.Issuer), quote(p.Issuer))
	}
	if lr.ClientID != "" && lr.ClientID != p.ClientID {
		return "", fmt.Errorf("build authentication request: login client id %s is not the platform's %s",
			quote(lr.ClientID), quote(p.ClientID))
	}
	if state == "" || nonce == "" || lr.LoginHint == "" {
		return "", errors.New("build authentication request: state, nonce and login hint are required")
	}
	if ru, err := url.Parse(redirectURI); err != nil || !ru.IsAbs() || ru.Host == "" {
		return "", fmt.Errorf("build authentication request: redirect uri %s is not an absolute url",
			quote(redirectURI))
	}
	u, err := url.Parse(p.AuthURL)
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("build authentication request: auth url %s is not an absolute http(s) url",
			quote(p.AuthURL))
	}
	existing, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("build authentication request: parse auth url query: %w", err)
	}
	for _, name := range authParams {
		if existing.Has(name) {
			return "", fmt.Errorf("build authentication request: auth url already sets %s", name)
		}
	}
	q := url.Values{
		"scope":         {"openid"},
		"response_type": {"id_token"},
		"response_mode": {"form_post"},
		"prompt":        {"none"},
		"client_id":     {p.ClientID},
		"redirect_uri":  {redirectURI},
		"login_hint":    {lr.LoginHint},
		"state":         {state},
		"nonce":         {nonce},
	}
	if lr.MessageHint != "" {
		q.Set("lti_message_hint", lr.MessageHint)
	}
	// The platform's own query is kept as it was written, not re-encoded.
	if raw := strings.TrimSuffix(u.RawQuery, "&"); raw != "" {
		u.RawQuery = raw + "&" + q.Encode()
	} else {
		u.RawQuery = q.Encode()
	}
	u.Fragment = ""
	return u.String(), nil
}
