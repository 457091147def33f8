package lms

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// accessToken is an OAuth 2 access token the token endpoint issued.
type accessToken struct {
	typeID  string
	scopes  []string
	expires time.Time
}

// permittedScopes are the scopes every tool may obtain: Moodle's AGS
// setting "Use this service for grade sync and column management" plus
// Names and Role Provisioning.
var permittedScopes = append(slices.Clone(agsScopes), ScopeMemberships)

const (
	grantClientCredentials = "client_credentials"
	assertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	maxKeySetSize          = 1 << 20
)

// handleToken is /mod/lti/token.php. Its checks and error codes follow
// Moodle's, which answers every failure with 400 (or the status set with
// SetTokenRefusalStatus) and one of invalid_request, unsupported_grant_type,
// invalid_client or invalid_scope.
func (p *Platform) handleToken(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.tokenReqs++
	status := p.tokenFail
	p.mu.Unlock()
	if status == 0 {
		status = http.StatusBadRequest
	}
	fail := func(code string) {
		writeJSON(w, status, map[string]string{"error": code})
	}
	if r.Method != http.MethodPost ||
		mediaType(r.Header.Get("Content-Type")) != "application/x-www-form-urlencoded" {
		fail("invalid_request")
		return
	}
	if err := r.ParseForm(); err != nil {
		fail("invalid_request")
		return
	}
	f := r.PostForm
	assertion, assertionType := f.Get("client_assertion"), f.Get("client_assertion_type")
	grant, scope := f.Get("grant_type"), f.Get("scope")
	if assertion == "" || assertionType == "" || grant == "" || scope == "" {
		fail("invalid_request")
		return
	}
	if assertionType != assertionTypeJWTBearer || grant != grantClientCredentials {
		fail("unsupported_grant_type")
		return
	}
	sub, ok := unverifiedSubject(assertion)
	if !ok {
		fail("invalid_request")
		return
	}
	p.mu.Lock()
	t := p.toolLocked(sub)
	var tool Tool
	if t != nil {
		tool = *t
	}
	p.mu.Unlock()
	if t == nil || tool.ClientID != sub {
		fail("invalid_client")
		return
	}
	iss, err := p.verifyAssertion(r.Context(), tool, assertion)
	if err != nil || iss != sub {
		fail("invalid_client")
		return
	}
	var granted []string
	for s := range strings.FieldsSeq(scope) {
		if slices.Contains(permittedScopes, s) && !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	if len(granted) == 0 {
		fail("invalid_scope")
		return
	}
	tok := randomString(32, hexDigits)
	p.mu.Lock()
	now := p.now()
	for k, at := range p.tokens {
		if now.After(at.expires) {
			delete(p.tokens, k)
		}
	}
	p.tokens[tok] = &accessToken{
		typeID: tool.DeploymentID, scopes: granted, expires: now.Add(accessTokenLife),
	}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, jsonObject{
		{"access_token", tok},
		{"token_type", "Bearer"},
		{"expires_in", int(accessTokenLife.Seconds())},
		{"scope", strings.Join(granted, " ")},
	})
}

// unverifiedSubject reads sub from a JWT without verifying it, which is how
// Moodle finds the tool whose key then verifies the signature.
func unverifiedSubject(token string) (string, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", false
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(payload, &c) != nil || c.Sub == "" {
		return "", false
	}
	return c.Sub, true
}

// verifyAssertion checks a client assertion against the tool's key set and
// returns its issuer. When the token URL is not its audience (Brightspace),
// the assertion must name the platform's token audience.
func (p *Platform) verifyAssertion(ctx context.Context, t Tool, assertion string) (string, error) {
	tok, err := p.verifyToolJWT(ctx, t, assertion)
	if err != nil {
		return "", fmt.Errorf("verify client assertion: %w", err)
	}
	p.mu.Lock()
	aud := p.tokenAudience
	p.mu.Unlock()
	if aud != "" && !slices.Contains(tok.Audience(), aud) {
		return "", fmt.Errorf("verify client assertion: audience %q is not %q", tok.Audience(), aud)
	}
	return tok.Issuer(), nil
}

// verifyToolJWT checks a JWT a tool signed against the tool's key set. Like
// Moodle it tries the cached key set first and fetches it again when that
// fails, so tools can rotate keys.
func (p *Platform) verifyToolJWT(ctx context.Context, t Tool, token string) (jwt.Token, error) {
	p.mu.Lock()
	cached := p.keysets[t.ClientID]
	p.mu.Unlock()
	if cached != nil {
		if tok, err := p.verifyWithKeySet(cached, token); err == nil {
			return tok, nil
		}
	}
	set, err := p.fetchKeySet(ctx, t.JWKSURL)
	if err != nil {
		return nil, err
	}
	tok, err := p.verifyWithKeySet(set, token)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.keysets[t.ClientID] = set
	p.mu.Unlock()
	return tok, nil
}

// verifyWithKeySet verifies an RS256 JWT with a kid from set and checks exp
// (required, in the future), iat and nbf with no leeway, as the JWT library
// Moodle uses does.
func (p *Platform) verifyWithKeySet(setJSON []byte, token string) (jwt.Token, error) {
	set, err := jwk.Parse(setJSON)
	if err != nil {
		return nil, fmt.Errorf("parse key set: %w", err)
	}
	msg, err := jws.Parse([]byte(token))
	if err != nil {
		return nil, fmt.Errorf("parse jwt: %w", err)
	}
	if sigs := msg.Signatures(); len(sigs) != 1 || sigs[0].ProtectedHeaders().Algorithm() != jwa.RS256 {
		return nil, fmt.Errorf("jwt is not signed with RS256")
	}
	tok, err := jwt.Parse([]byte(token),
		jwt.WithKeySet(set, jws.WithInferAlgorithmFromKey(true)),
		jwt.WithValidate(true),
		jwt.WithClock(jwt.ClockFunc(p.now)),
		jwt.WithAcceptableSkew(0),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	)
	if err != nil {
		return nil, fmt.Errorf("verify jwt: %w", err)
	}
	return tok, nil
}

// fetchKeySet downloads a tool's public key set.
func (p *Platform) fetchKeySet(ctx context.Context, u string) ([]byte, error) {
	if u == "" {
		return nil, fmt.Errorf("fetch key set: tool has no key set url")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch key set: %w", err)
	}
	p.mu.Lock()
	client := p.client
	p.mu.Unlock()
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch key set: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch key set: status %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxKeySetSize))
	if err != nil {
		return nil, fmt.Errorf("fetch key set: %w", err)
	}
	return b, nil
}

// bearerLocked reports whether the request carries a live access token of
// the tool with type id typeID holding one of scopes.
func (p *Platform) bearerLocked(r *http.Request, typeID string, scopes ...string) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	at := p.tokens[strings.TrimSpace(tok)]
	if at == nil || !p.now().Before(at.expires) || at.typeID != typeID {
		return false
	}
	for _, s := range scopes {
		if slices.Contains(at.scopes, s) {
			return true
		}
	}
	return false
}

// mediaType returns a Content-Type without its parameters, as Moodle
// compares it.
func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.TrimSpace(mt)
}

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONType(w, status, "application/json; charset=utf-8", v)
}

func writeJSONType(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := marshalJSON(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	w.Write(b)
}

// RevokeTokens forgets every access token issued, as a platform that lost
// its token store does; tools must then ask for new ones.
func (p *Platform) RevokeTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.tokens)
}
