package lti

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Scopes of the LTI Advantage services Labhub may ask for.
const (
	ScopeLineItem         = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
	ScopeLineItemReadOnly = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
	ScopeResultReadOnly   = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
	ScopeScore            = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
	ScopeMemberships      = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
)

// platformConfigKey is the member of an OpenID configuration that holds the
// LTI platform configuration (LTI Dynamic Registration §3.4).
const platformConfigKey = "https://purl.imsglobal.org/spec/lti-platform-configuration"

// toolConfigKey is the member of a client registration that holds the LTI
// tool configuration (LTI Dynamic Registration §3.6).
const toolConfigKey = "https://purl.imsglobal.org/spec/lti-tool-configuration"

// maxConfigBytes bounds the OpenID configuration and registration responses
// parsed here.
const maxConfigBytes = 1 << 20

// PlatformConfiguration is what dynamic registration needs of a platform's
// OpenID configuration (LTI Dynamic Registration §3.4).
type PlatformConfiguration struct {
	Issuer                string
	AuthorizationEndpoint string
	TokenEndpoint         string
	JWKSURI               string
	RegistrationEndpoint  string
	// AuthorizationServer is the audience of client assertions when it
	// differs from the token endpoint (Brightspace), else "".
	AuthorizationServer string
	ScopesSupported     []string
	ClaimsSupported     []string
	ProductFamilyCode   string
	Version             string
	// MessagesSupported are the message types the platform can send.
	// Platforms write them as objects ({"type": ...}, the specification and
	// Canvas) or as plain strings (Moodle); both are read, and Moodle's
	// short "LtiResourceLink" counts as LtiResourceLinkRequest.
	MessagesSupported []string
}

// SupportsMessage reports whether the platform lists the message type.
func (c *PlatformConfiguration) SupportsMessage(t string) bool {
	return slices.Contains(c.MessagesSupported, t)
}

// ParsePlatformConfiguration reads an OpenID configuration document. The
// issuer, authorization, keyset and registration endpoints are required and
// must be absolute http(s) URLs; the platform must sign id_tokens with RS256
// when it lists its algorithms.
func ParsePlatformConfiguration(b []byte) (*PlatformConfiguration, error) {
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("platform configuration is larger than %d bytes", maxConfigBytes)
	}
	m, err := decodeObject(b)
	if err != nil {
		return nil, fmt.Errorf("platform configuration is not a JSON object: %w", err)
	}
	c := &PlatformConfiguration{
		Issuer:                str(m, "issuer"),
		AuthorizationEndpoint: str(m, "authorization_endpoint"),
		TokenEndpoint:         str(m, "token_endpoint"),
		JWKSURI:               str(m, "jwks_uri"),
		RegistrationEndpoint:  str(m, "registration_endpoint"),
		AuthorizationServer:   str(m, "authorization_server"),
		ScopesSupported:       strs(m, "scopes_supported"),
		ClaimsSupported:       strs(m, "claims_supported"),
	}
	for _, f := range []struct{ name, v string }{
		{"issuer", c.Issuer}, {"authorization_endpoint", c.AuthorizationEndpoint},
		{"jwks_uri", c.JWKSURI}, {"registration_endpoint", c.RegistrationEndpoint},
	} {
		if !absoluteHTTP(f.v) {
			return nil, fmt.Errorf("platform configuration: %s %s is not an absolute http(s) URL", f.name, quote(f.v))
		}
	}
	if c.TokenEndpoint != "" && !absoluteHTTP(c.TokenEndpoint) {
		return nil, fmt.Errorf("platform configuration: token_endpoint %s is not an absolute http(s) URL",
			quote(c.TokenEndpoint))
	}
	if algs := strs(m, "id_token_signing_alg_values_supported"); len(algs) > 0 && !slices.Contains(algs, "RS256") {
		return nil, errors.New("platform configuration: the platform does not sign id_tokens with RS256")
	}
	// A stored copy of Moodle's configuration has a trailing space in the
	// member name; any spelling that trims to the key is accepted.
	var pc map[string]any
	for k, v := range m {
		if strings.TrimSpace(k) == platformConfigKey {
			pc, _ = v.(map[string]any)
			break
		}
	}
	if pc != nil {
		c.ProductFamilyCode = str(pc, "product_family_code")
		c.Version = str(pc, "version")
		if list, ok := pc["messages_supported"].([]any); ok {
			for _, e := range list {
				var t string
				switch e := e.(type) {
				case string:
					t = e
				case map[string]any:
					t = str(e, "type")
				}
				t = strings.TrimSpace(t)
				if t == "LtiResourceLink" {
					t = MessageResourceLink
				}
				if t != "" && !slices.Contains(c.MessagesSupported, t) {
					c.MessagesSupported = append(c.MessagesSupported, t)
				}
			}
		}
	}
	return c, nil
}

func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// ToolRegistration describes Labhub to a platform during dynamic
// registration.
type ToolRegistration struct {
	// Name is the client_name, shown to the LMS administrator.
	Name string
	// Description is the tool description.
	Description string
	// LoginURL, LaunchURL and JWKSURL are Labhub's OIDC login initiation
	// URL, its launch (redirect) URL and its public keyset URL.
	LoginURL, LaunchURL, JWKSURL string
	// DeepLinkingURL, if set, is where deep linking requests go; the
	// message is offered only when the platform supports it.
	DeepLinkingURL string
	// Scopes are the service scopes Labhub asks for; those the platform
	// does not list are left out.
	Scopes []string
	// Claims are the identity claims Labhub asks for (Moodle shares the
	// launcher's name when "name" is listed, the email when "email" is).
	Claims []string
}

// ToolDomain returns the domain a platform compares with the tool's URLs:
// the host with its port, without a leading "www.", as Moodle derives it
// from a URL.
func ToolDomain(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(strings.ToLower(u.Host), "www.")
}

// RegistrationRequest returns the JSON body of the client registration
// request for the platform (LTI Dynamic Registration §3.5): an OpenID
// Connect client of type web using the implicit flow for launches and
// client credentials with a signed JWT for services, and the LTI tool
// configuration with the tool's domain, launch URL, claims and messages.
func (t ToolRegistration) RegistrationRequest(c *PlatformConfiguration) ([]byte, error) {
	for _, u := range []string{t.LoginURL, t.LaunchURL, t.JWKSURL} {
		if !absoluteHTTP(u) {
			return nil, fmt.Errorf("registration request: %s is not an absolute http(s) URL", quote(u))
		}
	}
	var scopes []string
	for _, s := range t.Scopes {
		if len(c.ScopesSupported) == 0 || slices.Contains(c.ScopesSupported, s) {
			scopes = append(scopes, s)
		}
	}
	claims := []string{"iss", "sub"}
	for _, cl := range t.Claims {
		if !slices.Contains(claims, cl) && (len(c.ClaimsSupported) == 0 || slices.Contains(c.ClaimsSupported, cl)) {
			claims = append(claims, cl)
		}
	}
	messages := []map[string]any{{"type": MessageResourceLink, "target_link_uri": t.LaunchURL}}
	if t.DeepLinkingURL != "" && c.SupportsMessage(MessageDeepLinking) {
		messages = append(messages, map[string]any{
			"type":            MessageDeepLinking,
			"target_link_uri": t.DeepLinkingURL,
			"label":           t.Name,
			"placements":      []string{"ContentArea"},
		})
	}
	toolConfig := map[string]any{
		"domain":          ToolDomain(t.LaunchURL),
		"target_link_uri": t.LaunchURL,
		"claims":          claims,
		"messages":        messages,
	}
	if t.Description != "" {
		toolConfig["description"] = t.Description
	}
	body := map[string]any{
		"application_type":           "web",
		"response_types":             []string{"id_token"},
		"grant_types":                []string{"implicit", "client_credentials"},
		"initiate_login_uri":         t.LoginURL,
		"redirect_uris":              []string{t.LaunchURL},
		"client_name":                t.Name,
		"jwks_uri":                   t.JWKSURL,
		"token_endpoint_auth_method": "private_key_jwt",
		"scope":                      strings.Join(scopes, " "),
		toolConfigKey:                toolConfig,
	}
	return json.Marshal(body)
}

// RegistrationResponse is what a platform answers to a registration.
type RegistrationResponse struct {
	// ClientID is the client id the platform assigned.
	ClientID string
	// DeploymentID is the deployment the platform created with the
	// registration, "" when it did not say.
	DeploymentID string
	// Scope lists the scopes granted, when the platform said.
	Scope []string
}

// ParseRegistrationResponse reads a platform's answer to a client
// registration. client_id is required.
func ParseRegistrationResponse(b []byte) (*RegistrationResponse, error) {
	if len(b) > maxConfigBytes {
		return nil, fmt.Errorf("registration response is larger than %d bytes", maxConfigBytes)
	}
	m, err := decodeObject(b)
	if err != nil {
		return nil, fmt.Errorf("registration response is not a JSON object: %w", err)
	}
	r := &RegistrationResponse{ClientID: str(m, "client_id"), Scope: strings.Fields(str(m, "scope"))}
	if r.ClientID == "" {
		return nil, errors.New("registration response has no client_id")
	}
	for k, v := range m {
		if strings.TrimSpace(k) == toolConfigKey {
			if tc, ok := v.(map[string]any); ok {
				r.DeploymentID = str(tc, "deployment_id")
			}
		}
	}
	return r, nil
}

// registrationErrorCode finds an OAuth-style error code in a platform's
// refusal: a JSON {"error": ...} or, as Moodle writes it, the bare code as
// text.
var registrationErrorCode = regexp.MustCompile(`^[a-z][a-z0-9_]{2,60}$`)

// RegistrationErrorCode returns the error code of a refused registration
// body, or "" when the body carries none.
func RegistrationErrorCode(b []byte) string {
	if m, err := decodeObject(b); err == nil {
		return str(m, "error")
	}
	s := strings.TrimSpace(string(b))
	if registrationErrorCode.MatchString(s) {
		return s
	}
	return ""
}
