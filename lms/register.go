package lms

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// LTI Dynamic Registration, as Moodle 4.x implements it
// (mod/lti/startltiadvregistration.php, openid-configuration.php,
// openid-registration.php): the administrator pastes the tool's
// registration URL, Moodle sends the browser there with
// openid_configuration and a one-hour registration_token, the tool reads
// the configuration and posts its registration with the token, and Moodle
// creates the tool in the Pending state.

const (
	openIDConfigPath  = "/mod/lti/openid-configuration.php"
	registrationPath  = "/mod/lti/openid-registration.php"
	registrationLife  = time.Hour
	toolConfigMember  = "https://purl.imsglobal.org/spec/lti-tool-configuration"
	platformConfigKey = "https://purl.imsglobal.org/spec/lti-platform-configuration"
)

// StartRegistration is Moodle's "Add LTI Advantage" with the tool URL an
// administrator pasted: it returns the URL the browser is sent to, the tool
// URL (its query kept) with openid_configuration and a fresh
// registration_token, whose subject is the client id the tool will get.
func (p *Platform) StartRegistration(toolURL string) (string, error) {
	u, err := url.Parse(toolURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("start registration: %q is not a tool URL", toolURL)
	}
	now := p.now()
	payload, err := marshalJSON(jsonObject{{"sub", NewClientID()}, {"scope", "reg"},
		{"iat", now.Unix()}, {"exp", now.Add(registrationLife).Unix()}})
	if err != nil {
		return "", fmt.Errorf("start registration: %w", err)
	}
	tok, err := p.signPayload(payload)
	if err != nil {
		return "", fmt.Errorf("start registration: %w", err)
	}
	q := u.Query()
	q.Set("openid_configuration", p.endpoint(openIDConfigPath))
	q.Set("registration_token", tok)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func (p *Platform) endpoint(path string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.endpointLocked(path)
}

// handleStartRegistration is startltiadvregistration.php?url=...: for a
// logged-in site administrator, a redirect to the tool.
func (p *Platform) handleStartRegistration(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	sess := p.sessionLocked(r)
	p.mu.Unlock()
	if sess == nil || !isAdmin(userRoles(sess.user)) {
		renderError(w, http.StatusForbidden, "Access denied", "Only site administrators can register tools.")
		return
	}
	target, err := p.StartRegistration(r.URL.Query().Get("url"))
	if err != nil {
		renderError(w, http.StatusBadRequest, "Invalid request", "The tool URL is not valid.")
		return
	}
	http.Redirect(w, r, target, http.StatusFound)
}

// handleOpenIDConfiguration serves the platform's OpenID configuration.
func (p *Platform) handleOpenIDConfiguration(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var messages any = []string{"LtiResourceLinkRequest", "LtiDeepLinkingRequest"}
	if p.messagesAsObjects {
		messages = []jsonObject{{{"type", "LtiResourceLinkRequest"}},
			{{"type", "LtiDeepLinkingRequest"}, {"placements", []string{"ContentArea"}}}}
	}
	scopes := append([]string{"https://purl.imsglobal.org/spec/lti-bo/scope/basicoutcome"},
		permittedScopes...)
	conf := jsonObject{
		{"issuer", p.tokenIssuerLocked()},
		{"token_endpoint", p.endpointLocked("/mod/lti/token.php")},
		{"token_endpoint_auth_methods_supported", []string{"private_key_jwt"}},
		{"token_endpoint_auth_signing_alg_values_supported", []string{"RS256"}},
		{"jwks_uri", p.endpointLocked("/mod/lti/certs.php")},
		{"authorization_endpoint", p.endpointLocked(authPath)},
		{"registration_endpoint", p.endpointLocked(registrationPath)},
		{"scopes_supported", append(scopes, "openid")},
		{"response_types_supported", []string{"id_token"}},
		{"subject_types_supported", []string{"public", "pairwise"}},
		{"id_token_signing_alg_values_supported", []string{"RS256"}},
		{"claims_supported", []string{"sub", "iss", "name", "given_name", "family_name", "email"}},
	}
	if p.tokenAudience != "" {
		conf = append(conf, jsonMember{"authorization_server", p.tokenAudience})
	}
	conf = append(conf, jsonMember{platformConfigKey, jsonObject{
		{"product_family_code", productFamily},
		{"version", moodleVersion},
		{"messages_supported", messages},
		{"placements", []string{"AddContentMenu"}},
		{"variables", []string{"ResourceLink.id", "User.id", "Person.email.primary"}},
	}})
	writeJSON(w, http.StatusOK, conf)
}

// registrationFailure answers a refused registration the way Moodle does:
// a status and the bare reason as text.
func registrationFailure(w http.ResponseWriter, status int, reason string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, reason)
}

// handleRegistration is openid-registration.php: it checks the token and
// the registration, creates the tool as Pending and echoes the
// registration with the client id and deployment id.
func (p *Platform) handleRegistration(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		registrationFailure(w, http.StatusMethodNotAllowed, "Unsupported method")
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		registrationFailure(w, http.StatusUnauthorized, "missing_registration_token")
		return
	}
	clientID, err := p.verifyRegistrationToken(strings.TrimSpace(tok))
	if err != nil {
		registrationFailure(w, http.StatusUnauthorized, "invalid_registration_token")
		return
	}
	p.mu.Lock()
	used := p.regTokensUsed[clientID] || p.toolLocked(clientID) != nil
	p.mu.Unlock()
	if used {
		registrationFailure(w, http.StatusUnauthorized, "token_already_used")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		registrationFailure(w, http.StatusBadRequest, "Unreadable registration")
		return
	}
	var reg map[string]any
	if err := json.Unmarshal(body, &reg); err != nil {
		registrationFailure(w, http.StatusBadRequest, "Invalid JSON")
		return
	}
	t, echo, reason := registrationToTool(reg)
	if reason != "" {
		registrationFailure(w, http.StatusBadRequest, reason)
		return
	}
	t.ClientID, t.Pending = clientID, true
	p.mu.Lock()
	if p.regTokensUsed[clientID] || p.toolLocked(clientID) != nil {
		p.mu.Unlock()
		registrationFailure(w, http.StatusUnauthorized, "token_already_used")
		return
	}
	p.regTokensUsed[clientID] = true
	p.nextTypeID++
	t.DeploymentID = strconv.Itoa(p.nextTypeID)
	p.tools = append(p.tools, &t)
	p.mu.Unlock()

	echo[0].value = clientID
	toolConf := echo[len(echo)-1].value.(jsonObject)
	toolConf = append(jsonObject{{"version", "1.3.0"}, {"deployment_id", t.DeploymentID}}, toolConf...)
	echo[len(echo)-1].value = toolConf
	writeJSON(w, http.StatusOK, echo)
}

// verifyRegistrationToken checks a registration token's signature with the
// platform's keys, its expiry and scope, and returns its subject.
func (p *Platform) verifyRegistrationToken(tok string) (string, error) {
	set, err := jwk.Parse(p.JWKS())
	if err != nil {
		return "", err
	}
	payload, err := jws.Verify([]byte(tok), jws.WithKeySet(set, jws.WithInferAlgorithmFromKey(true)))
	if err != nil {
		return "", err
	}
	var c struct {
		Sub   string `json:"sub"`
		Scope string `json:"scope"`
		Exp   int64  `json:"exp"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", err
	}
	if c.Scope != "reg" || c.Sub == "" || p.now().Unix() >= c.Exp {
		return "", fmt.Errorf("registration token is expired or not for registration")
	}
	return c.Sub, nil
}

// moodleDomain is Moodle's LTI_URL_DOMAIN_REGEX: what follows the scheme
// and an optional "www." up to the first slash, port included.
var moodleDomain = regexp.MustCompile(`(?i)^(?:https?://)?(?:www\.)?([^/]+)(?:/|$)`)

func domainOf(s string) string {
	m := moodleDomain.FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return m[1]
}

// registrationToTool reads a registration as Moodle's registration_to_config
// does and returns the tool, the echo of the registration (client_id first,
// tool configuration last), or the reason it is refused.
func registrationToTool(reg map[string]any) (Tool, jsonObject, string) {
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	list := func(m map[string]any, k string) ([]string, bool) {
		a, ok := m[k].([]any)
		if !ok {
			return nil, false
		}
		var out []string
		for _, e := range a {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out, true
	}
	if at, ok := reg["application_type"]; ok && at != "web" {
		return Tool{}, nil, "Invalid application_type"
	}
	responseTypes, _ := list(reg, "response_types")
	if !slices.Contains(responseTypes, "id_token") {
		return Tool{}, nil, "Missing or invalid response_types"
	}
	login := str(reg, "initiate_login_uri")
	redirects, ok := list(reg, "redirect_uris")
	clientName, jwksURI := str(reg, "client_name"), str(reg, "jwks_uri")
	if login == "" || !ok || len(redirects) == 0 || clientName == "" || jwksURI == "" {
		return Tool{}, nil, "Missing required registration fields"
	}
	if str(reg, "token_endpoint_auth_method") != "private_key_jwt" {
		return Tool{}, nil, "Invalid token_endpoint_auth_method"
	}
	tc, ok := reg[toolConfigMember].(map[string]any)
	if !ok {
		return Tool{}, nil, "Missing LTI tool configuration"
	}
	domain := str(tc, "domain")
	target := str(tc, "target_link_uri")
	if target == "" && domain != "" {
		target = "https://" + domain
	}
	if domain == "" || domainOf(target) != domainOf(domain) {
		return Tool{}, nil, "Missing Domain or Target Link URI"
	}
	t := Tool{LoginURL: login, RedirectURIs: redirects, TargetLinkURI: target, JWKSURL: jwksURI,
		HideName: true, HideEmail: true}
	claims, _ := list(tc, "claims")
	for _, c := range claims {
		switch c {
		case "name", "given_name", "family_name":
			t.HideName = false
		case "email":
			t.HideEmail = false
		}
	}
	// Of the messages only deep linking is read: it switches content
	// selection on, at its own URL when it names one.
	if msgs, ok := tc["messages"].([]any); ok {
		for _, m := range msgs {
			mo, ok := m.(map[string]any)
			if !ok || str(mo, "type") != "LtiDeepLinkingRequest" {
				continue
			}
			t.DeepLinkingURL = target
			if u := str(mo, "target_link_uri"); u != "" {
				t.DeepLinkingURL = u
			}
		}
	}
	toolEcho := jsonObject{{"target_link_uri", target}, {"domain", domain}, {"claims", claims}}
	if d := str(tc, "description"); d != "" {
		toolEcho = append(toolEcho, jsonMember{"description", d})
	}
	echo := jsonObject{
		{"client_id", ""},
		{"response_types", []string{"id_token"}},
		{"jwks_uri", jwksURI},
		{"initiate_login_uri", login},
		{"grant_types", []string{"client_credentials", "implicit"}},
		{"redirect_uris", redirects},
		{"application_type", "web"},
		{"token_endpoint_auth_method", "private_key_jwt"},
		{"client_name", clientName},
		{"scope", str(reg, "scope")},
		{toolConfigMember, toolEcho},
	}
	return t, echo, ""
}

// ActivateTool is the administrator activating a pending tool.
func (p *Platform) ActivateTool(clientID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.toolLocked(clientID)
	if t == nil || t.ClientID != clientID {
		return fmt.Errorf("activate tool: no tool with client id %q", clientID)
	}
	t.Pending = false
	return nil
}

// Tools returns the registered tools.
func (p *Platform) Tools() []Tool {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Tool, 0, len(p.tools))
	for _, t := range p.tools {
		out = append(out, *t)
	}
	return out
}
