package lms

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/require"
)

func postToken(t *testing.T, p *Platform, contentType string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.Issuer()+"/mod/lti/token.php", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	status, hdr, body := do(t, nil, req)
	require.True(t, strings.HasPrefix(hdr.Get("Content-Type"), "application/json"))
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &m), body)
	return status, m
}

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	tool := newFakeTool(t)
	p.AddTool(tool.registration("client-1"))
	// A key certainly different from the tool's, whatever the pool hands out.
	other := newFakeTool(t)
	fresh, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	otherKey, err := jwk.FromRaw(fresh)
	require.NoError(t, err)
	require.NoError(t, otherKey.Set(jwk.KeyIDKey, "tool-key-1"))
	other.key = otherKey
	tokenURL := p.Issuer() + "/mod/lti/token.php"
	const formCT = "application/x-www-form-urlencoded"
	valid := func() url.Values {
		return url.Values{
			"grant_type":            {"client_credentials"},
			"client_assertion_type": {assertionTypeJWTBearer},
			"client_assertion":      {tool.assertion(t, "client-1", tokenURL, nil)},
			"scope":                 {ScopeScore + " " + ScopeLineItem},
		}
	}
	hs256 := func() string {
		tok, err := jwt.NewBuilder().Issuer("client-1").Subject("client-1").
			Expiration(time.Now().Add(time.Minute)).Build()
		require.NoError(t, err)
		key, err := jwk.FromRaw([]byte("shared-secret-guess"))
		require.NoError(t, err)
		require.NoError(t, key.Set(jwk.KeyIDKey, "tool-key-1"))
		b, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, key))
		require.NoError(t, err)
		return string(b)
	}
	unsigned := func() string {
		parts := strings.Split(tool.assertion(t, "client-1", tokenURL, nil), ".")
		return `eyJhbGciOiJub25lIn0.` + parts[1] + `.`
	}
	for _, tc := range []struct {
		name        string
		contentType string
		mutate      func(url.Values)
		wantError   string // "" for success
		wantScope   string
	}{
		{name: "valid", wantScope: ScopeScore + " " + ScopeLineItem},
		{name: "unknown scopes dropped", wantScope: ScopeScore,
			mutate: func(v url.Values) { v.Set("scope", "openid "+ScopeScore+" https://example.invalid/x") }},
		{name: "duplicate scopes granted once", wantScope: ScopeMemberships,
			mutate: func(v url.Values) { v.Set("scope", ScopeMemberships+"  "+ScopeMemberships) }},
		{name: "form content type with charset", contentType: formCT + "; charset=utf-8", wantScope: ScopeScore + " " + ScopeLineItem},

		{name: "json body", contentType: "application/json", wantError: "invalid_request"},
		{name: "missing scope", wantError: "invalid_request", mutate: func(v url.Values) { v.Del("scope") }},
		{name: "missing assertion", wantError: "invalid_request", mutate: func(v url.Values) { v.Del("client_assertion") }},
		{name: "missing grant", wantError: "invalid_request", mutate: func(v url.Values) { v.Del("grant_type") }},
		{name: "authorization_code grant", wantError: "unsupported_grant_type",
			mutate: func(v url.Values) { v.Set("grant_type", "authorization_code") }},
		{name: "other assertion type", wantError: "unsupported_grant_type",
			mutate: func(v url.Values) {
				v.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
			}},
		{name: "assertion not a jwt", wantError: "invalid_request",
			mutate: func(v url.Values) { v.Set("client_assertion", "not.a-jwt") }},
		{name: "assertion without sub", wantError: "invalid_request",
			mutate: func(v url.Values) { v.Set("client_assertion", "e30.e30.e30") }},
		{name: "unknown client", wantError: "invalid_client",
			mutate: func(v url.Values) { v.Set("client_assertion", tool.assertion(t, "client-2", tokenURL, nil)) }},
		{name: "signed by another key", wantError: "invalid_client",
			mutate: func(v url.Values) { v.Set("client_assertion", other.assertion(t, "client-1", tokenURL, nil)) }},
		{name: "expired", wantError: "invalid_client", mutate: func(v url.Values) {
			v.Set("client_assertion", tool.assertion(t, "client-1", tokenURL, map[string]any{
				jwt.IssuedAtKey: time.Now().Add(-2 * time.Minute), jwt.ExpirationKey: time.Now().Add(-time.Second)}))
		}},
		{name: "issued in the future", wantError: "invalid_client", mutate: func(v url.Values) {
			v.Set("client_assertion", tool.assertion(t, "client-1", tokenURL, map[string]any{
				jwt.IssuedAtKey: time.Now().Add(time.Hour), jwt.ExpirationKey: time.Now().Add(2 * time.Hour)}))
		}},
		{name: "iss differs from sub", wantError: "invalid_client", mutate: func(v url.Values) {
			v.Set("client_assertion", tool.assertion(t, "client-1", tokenURL, map[string]any{jwt.IssuerKey: "someone"}))
		}},
		{name: "hs256 with a guessed secret", wantError: "invalid_client",
			mutate: func(v url.Values) { v.Set("client_assertion", hs256()) }},
		{name: "alg none", wantError: "invalid_client",
			mutate: func(v url.Values) { v.Set("client_assertion", unsigned()) }},
		{name: "no permitted scope", wantError: "invalid_scope",
			mutate: func(v url.Values) { v.Set("scope", "openid https://example.invalid/admin") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			form := valid()
			if tc.mutate != nil {
				tc.mutate(form)
			}
			ct := tc.contentType
			if ct == "" {
				ct = formCT
			}
			status, body := postToken(t, p, ct, form)
			if tc.wantError != "" {
				require.Equal(t, http.StatusBadRequest, status)
				require.Equal(t, map[string]any{"error": tc.wantError}, body)
				return
			}
			require.Equal(t, http.StatusOK, status, body)
			require.Equal(t, "Bearer", body["token_type"])
			require.EqualValues(t, 3600, body["expires_in"])
			require.Equal(t, tc.wantScope, body["scope"])
			require.Len(t, body["access_token"], 32)
		})
	}
}

func TestTokenRequestsAreCounted(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	tool := newFakeTool(t)
	p.AddTool(tool.registration("c"))
	require.Equal(t, 0, p.TokenRequests())
	tool.accessToken(t, p, "c", ScopeScore)
	postToken(t, p, "text/plain", url.Values{})
	status, _, body := do(t, nil, mustRequest(t, http.MethodGet, p.Issuer()+"/mod/lti/token.php", ""))
	require.Equal(t, http.StatusBadRequest, status)
	require.JSONEq(t, `{"error":"invalid_request"}`, body)
	require.Equal(t, 3, p.TokenRequests())
}

// The key set is cached per tool and fetched again when verification fails,
// so a tool can rotate its key.
func TestTokenEndpointFollowsToolKeyRotation(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	tool := newFakeTool(t)
	p.AddTool(tool.registration("c"))
	tool.accessToken(t, p, "c", ScopeScore)

	key, err := jwk.FromRaw(testKey())
	require.NoError(t, err)
	require.NoError(t, key.Set(jwk.KeyIDKey, "tool-key-2"))
	tool.mu.Lock()
	tool.key = key
	tool.mu.Unlock()
	tool.accessToken(t, p, "c", ScopeScore)
}

// A tool whose key set cannot be fetched gets invalid_client.
func TestTokenEndpointUnreachableKeySet(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{HTTPClient: &http.Client{Timeout: 2 * time.Second}})
	tool := newFakeTool(t)
	reg := tool.registration("c")
	reg.JWKSURL = tool.srv.URL + "/missing"
	p.AddTool(reg)
	status, body := postToken(t, p, "application/x-www-form-urlencoded", url.Values{
		"grant_type":            {"client_credentials"},
		"client_assertion_type": {assertionTypeJWTBearer},
		"client_assertion":      {tool.assertion(t, "c", "x", nil)},
		"scope":                 {ScopeScore},
	})
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "invalid_client", body["error"])
}
