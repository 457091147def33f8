package lms

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/require"
)

// registrationBody is what a tool posts to register, shaped like Labhub's.
func registrationBody(toolURL string, claims ...string) map[string]any {
	if claims == nil {
		claims = []string{"iss", "sub", "name", "email"}
	}
	return map[string]any{
		"application_type": "web", "response_types": []string{"id_token"},
		"grant_types":        []string{"implicit", "client_credentials"},
		"initiate_login_uri": toolURL + "/login", "redirect_uris": []string{toolURL + "/launch"},
		"client_name": "Labhub", "jwks_uri": toolURL + "/jwks", "token_endpoint_auth_method": "private_key_jwt",
		"scope": ScopeMemberships,
		"https://purl.imsglobal.org/spec/lti-tool-configuration": map[string]any{
			"domain": strings.TrimPrefix(toolURL, "http://"), "target_link_uri": toolURL + "/launch",
			"claims": claims,
			"messages": []map[string]any{{"type": "LtiResourceLinkRequest"},
				{"type": "LtiDeepLinkingRequest", "target_link_uri": toolURL + "/launch?dl=1"}},
		},
	}
}

// postRegistration posts body with the token and returns status and body.
func postRegistration(t *testing.T, p *Platform, token string, body any) (int, string) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, p.Issuer()+"/mod/lti/openid-registration.php", strings.NewReader(string(b)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	status, _, out := do(t, nil, req)
	return status, out
}

// startRegistration returns the registration token Moodle hands the tool.
func startRegistration(t *testing.T, p *Platform, toolURL string) (string, url.Values) {
	t.Helper()
	u, err := p.StartRegistration(toolURL)
	require.NoError(t, err)
	pu, err := url.Parse(u)
	require.NoError(t, err)
	return pu.Query().Get("registration_token"), pu.Query()
}

func TestDynamicRegistrationLikeMoodle(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	tool := newFakeTool(t)

	// The administrator pastes the tool URL; Moodle keeps its query.
	token, q := startRegistration(t, p, tool.srv.URL+"/register?invite=abc")
	require.Equal(t, "abc", q.Get("invite"))
	require.Equal(t, p.Issuer()+"/mod/lti/openid-configuration.php", q.Get("openid_configuration"))
	sub := jwtPayload(t, token)["sub"].(string)
	require.Len(t, sub, 15)

	resp, err := http.Get(q.Get("openid_configuration"))
	require.NoError(t, err)
	var conf map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&conf))
	resp.Body.Close()
	require.Equal(t, p.Issuer()+"/mod/lti/openid-registration.php", conf["registration_endpoint"])
	pc := conf["https://purl.imsglobal.org/spec/lti-platform-configuration"].(map[string]any)
	require.Equal(t, []any{"LtiResourceLinkRequest", "LtiDeepLinkingRequest"}, pc["messages_supported"],
		"Moodle writes message types as strings")

	// Refusals, as Moodle answers them.
	status, body := postRegistration(t, p, "", registrationBody(tool.srv.URL))
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, "missing_registration_token", body)
	status, _ = postRegistration(t, p, token+"x", registrationBody(tool.srv.URL))
	require.Equal(t, http.StatusUnauthorized, status)
	bad := registrationBody(tool.srv.URL)
	bad["https://purl.imsglobal.org/spec/lti-tool-configuration"].(map[string]any)["domain"] = "www.elsewhere.test"
	status, body = postRegistration(t, p, token, bad)
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "Missing Domain or Target Link URI", body)
	bad = registrationBody(tool.srv.URL)
	bad["application_type"] = "native"
	status, _ = postRegistration(t, p, token, bad)
	require.Equal(t, http.StatusBadRequest, status)
	bad = registrationBody(tool.srv.URL)
	bad["token_endpoint_auth_method"] = "client_secret_basic"
	status, _ = postRegistration(t, p, token, bad)
	require.Equal(t, http.StatusBadRequest, status)

	status, body = postRegistration(t, p, token, registrationBody(tool.srv.URL))
	require.Equal(t, http.StatusOK, status, body)
	var reg map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &reg))
	require.Equal(t, sub, reg["client_id"], "the client id is the token's subject")
	tc := reg["https://purl.imsglobal.org/spec/lti-tool-configuration"].(map[string]any)
	require.NotEmpty(t, tc["deployment_id"])

	status, body = postRegistration(t, p, token, registrationBody(tool.srv.URL))
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, "token_already_used", body)

	// The tool arrives Pending: nothing launches it until it is activated.
	tl, ok := p.Tool(sub)
	require.True(t, ok)
	require.True(t, tl.Pending)
	require.Equal(t, tool.srv.URL+"/launch?dl=1", tl.DeepLinkingURL, "only the deep linking message is read")
	require.Equal(t, tc["deployment_id"], tl.DeploymentID)
	_, err = newBrowser(t, p).LaunchLTI13(ctxT(t), student, course, link, sub)
	require.ErrorContains(t, err, "pending")
	require.NoError(t, p.ActivateTool(sub))
	resp, err = newBrowser(t, p).LaunchLTI13(ctxT(t), student, course, link, sub)
	require.NoError(t, err)
	resp.Body.Close()
	require.NotEmpty(t, tool.lastLaunch(t).Get("id_token"))
}

// The claims the tool asks for decide what Moodle shares: without name and
// email, launches carry neither.
func TestRegisteredClaimsDecideWhatIsShared(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{MessagesAsObjects: true})
	tool := newFakeTool(t)
	token, _ := startRegistration(t, p, tool.srv.URL+"/register")
	status, body := postRegistration(t, p, token, registrationBody(tool.srv.URL, "iss", "sub"))
	require.Equal(t, http.StatusOK, status, body)
	sub := jwtPayload(t, token)["sub"].(string)
	require.NoError(t, p.ActivateTool(sub))
	claims, err := p.LaunchClaims(student, course, link, sub, "n")
	require.NoError(t, err)
	require.NotContains(t, claims, "name")
	require.NotContains(t, claims, "email")
	require.NotContains(t, claims[ClaimExt], "user_username")
}

// A deep linking request looks like Moodle's, key for key.
func TestDeepLinkingRequestMatchesMoodle(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	tool := newFakeTool(t)
	reg := tool.registration(fixtureClientID)
	reg.DeploymentID, reg.DeepLinkingURL = "1", tool.srv.URL+"/launch?deeplink=1"
	p.AddTool(reg)
	resp, err := newBrowser(t, p).DeepLink(ctxT(t), teacher, course, fixtureClientID)
	require.NoError(t, err)
	resp.Body.Close()
	got := verifyIDToken(t, p, tool.lastLaunch(t).Get("id_token"))
	want := jwtPayload(t, string(readTestdata(t, "lti13-deep-linking.jwt")))
	// The captured tool type had custom parameters of its own; this one has
	// none.
	delete(want, ClaimCustom)
	requireSameShape(t, "claims", want, got)
	require.Equal(t, "LtiDeepLinkingRequest", got[ClaimMessageType])
	require.Equal(t, tool.srv.URL+"/launch?deeplink=1", got[ClaimTargetLink])
	dl := got[ClaimDeepLinking].(map[string]any)
	require.Equal(t, []any{"ltiResourceLink"}, dl["accept_types"])
	require.Regexp(t, `^`+p.Issuer()+`/mod/lti/contentitem_return\.php\?course=2&id=1&sesskey=\w+$`,
		dl["deep_link_return_url"])

	var hint struct{ LaunchID string }
	action, form, err := p.DeepLinkingInitiation(teacher, course, fixtureClientID)
	require.NoError(t, err)
	require.Equal(t, tool.srv.URL+"/login", action)
	require.NoError(t, json.Unmarshal([]byte(form.Get("lti_message_hint")), &hint))
	require.True(t, strings.HasPrefix(hint.LaunchID, "ltilaunch_ContentItemSelectionRequest"))
	require.NotContains(t, form.Get("lti_message_hint"), "cmid")
}

// deepLinkResponse signs a deep linking response with the fake tool's key.
func deepLinkResponse(t *testing.T, tool *fakeTool, iss, aud, deployment string, items []map[string]any) string {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewBuilder().Issuer(iss).Audience([]string{aud}).IssuedAt(now).
		Expiration(now.Add(5 * time.Minute)).Build()
	require.NoError(t, err)
	for k, v := range map[string]any{
		"nonce": "n", ClaimMessageType: "LtiDeepLinkingResponse", ClaimVersion: "1.3.0",
		ClaimDeploymentID: deployment, claimDLContentItems: items,
	} {
		require.NoError(t, tok.Set(k, v))
	}
	tool.mu.Lock()
	key := tool.key
	tool.mu.Unlock()
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256, key))
	require.NoError(t, err)
	return string(b)
}

func TestDeepLinkingReturnLikeMoodle(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	tool := newFakeTool(t)
	reg := tool.registration("dl-client")
	reg.DeploymentID = "3"
	p.AddTool(reg)
	b := newBrowser(t, p)
	resp, err := b.DeepLink(ctxT(t), teacher, course, "dl-client")
	require.NoError(t, err)
	resp.Body.Close()
	returnURL := verifyIDToken2(t, p, tool.lastLaunch(t).Get("id_token"))

	post := func(c *http.Client, u, jwtValue string) (int, string) {
		resp, err := c.PostForm(u, url.Values{"JWT": {jwtValue}})
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	item := map[string]any{"type": "ltiResourceLink", "title": "Week 1 lab",
		"custom":   map[string]any{"labhub_image": "scipy", "labhub_start": "week1/lab.ipynb"},
		"lineItem": map[string]any{"scoreMaximum": 20.0, "label": "Week 1 lab"}}
	good := deepLinkResponse(t, tool, "dl-client", p.Issuer(), "3", []map[string]any{item})

	// Without the teacher's session, or with another sesskey, nothing is added.
	status, _ := post(http.DefaultClient, returnURL, good)
	require.Equal(t, http.StatusForbidden, status)
	status, _ = post(b.Client, strings.Split(returnURL, "&sesskey=")[0]+"&sesskey=other", good)
	require.Equal(t, http.StatusForbidden, status)
	// The JWT must come from this tool, for this platform and deployment.
	for name, tok := range map[string]string{
		"foreign iss":     deepLinkResponse(t, tool, "someone", p.Issuer(), "3", []map[string]any{item}),
		"foreign aud":     deepLinkResponse(t, tool, "dl-client", "https://other.test", "3", []map[string]any{item}),
		"other deploy":    deepLinkResponse(t, tool, "dl-client", p.Issuer(), "9", []map[string]any{item}),
		"not even signed": strings.TrimRight(good, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") + "AAAA",
	} {
		status, _ = post(b.Client, returnURL, tok)
		require.Equal(t, http.StatusBadRequest, status, name)
	}
	require.Empty(t, p.DeepLinked())

	status, body := post(b.Client, returnURL, good)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "Week 1 lab")
	added := p.DeepLinked()
	require.Len(t, added, 1)
	require.False(t, added[0].Detached)
	require.Equal(t, map[string]string{"labhub_image": "scipy", "labhub_start": "week1/lab.ipynb"}, added[0].Link.Custom)
	require.Equal(t, 20.0, added[0].Link.ScoreMaximum)

	// The new activity launches with the chosen custom parameters and a
	// gradebook column of the chosen maximum.
	claims, err := p.LaunchClaims(student, course, added[0].Link, "dl-client", "n")
	require.NoError(t, err)
	require.Equal(t, "scipy", claims[ClaimCustom].(map[string]any)["labhub_image"])
	require.NotEmpty(t, claims[ClaimAGS].(map[string]any)["lineitem"])

	// An item with a url detaches the activity from the tool.
	withURL := map[string]any{"type": "ltiResourceLink", "title": "Detached", "url": tool.srv.URL + "/launch"}
	status, _ = post(b.Client, returnURL, deepLinkResponse(t, tool, "dl-client", p.Issuer(), "3", []map[string]any{withURL}))
	require.Equal(t, http.StatusOK, status)
	require.True(t, p.DeepLinked()[1].Detached)
}

// verifyIDToken2 verifies an id_token issued for any client id and returns
// its deep linking return URL.
func verifyIDToken2(t *testing.T, p *Platform, token string) string {
	t.Helper()
	_, err := jwt.Parse([]byte(token), jwt.WithKeySet(fetchJWKS(t, p)), jwt.WithValidate(true))
	require.NoError(t, err)
	return jwtPayload(t, token)[ClaimDeepLinking].(map[string]any)["deep_link_return_url"].(string)
}

// Other LMSs, as far as the tests need them.
func TestFlavours(t *testing.T) {
	t.Parallel()
	t.Run("canvas", func(t *testing.T) {
		p, _ := newTestPlatform(t, Options{TokenIssuer: "https://canvas.instructure.com",
			LoginDeploymentParam: "deployment_id", StorageTarget: "post_message_forwarding",
			LoginExtra: Form{{"canvas_region", "us-east-1"}, {"canvas_environment", "prod"}}})
		tool := newFakeTool(t)
		tool.authURL = p.Issuer() + "/mod/lti/auth.php"
		p.AddTool(tool.registration("10000000000001"))
		_, form, err := p.LoginInitiation(student, course, link, "10000000000001")
		require.NoError(t, err)
		require.Equal(t, "https://canvas.instructure.com", form.Get("iss"))
		require.NotEmpty(t, form.Get("deployment_id"))
		require.False(t, form.Has("lti_deployment_id"))
		require.Equal(t, "post_message_forwarding", form.Get("lti_storage_target"))
		require.Equal(t, "us-east-1", form.Get("canvas_region"))
		resp, err := newBrowser(t, p).LaunchLTI13(ctxT(t), student, course, link, "10000000000001")
		require.NoError(t, err)
		resp.Body.Close()
		posted := tool.lastLaunch(t)
		require.Equal(t, "post_message_forwarding", posted.Get("lti_storage_target"))
		require.Equal(t, "https://canvas.instructure.com", jwtPayload(t, posted.Get("id_token"))["iss"])
	})
	t.Run("blackboard", func(t *testing.T) {
		p, _ := newTestPlatform(t, Options{TokenIssuer: "https://blackboard.com", RoleURNs: true})
		tool := newFakeTool(t)
		p.AddTool(tool.registration("bb-client"))
		inst := Course{ID: "77", Label: "BIO", Title: "Biology", Deployment: "institution-b"}
		claims, err := p.LaunchClaims(teacher, inst, link, "bb-client", "n")
		require.NoError(t, err)
		require.Equal(t, "institution-b", claims[ClaimDeploymentID])
		require.Equal(t, []string{"urn:lti:role:ims/lis/Instructor"}, claims[ClaimRoles])
	})
	t.Run("brightspace", func(t *testing.T) {
		p, _ := newTestPlatform(t, Options{TokenAudience: "https://api.brightspace.com/auth/token"})
		tool := newFakeTool(t)
		p.AddTool(tool.registration("bs-client"))
		token := func(aud string) int {
			form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {assertionTypeJWTBearer},
				"client_assertion": {tool.assertion(t, "bs-client", aud, nil)}, "scope": {ScopeMemberships}}
			resp, err := http.PostForm(p.Issuer()+"/mod/lti/token.php", form)
			require.NoError(t, err)
			resp.Body.Close()
			return resp.StatusCode
		}
		require.Equal(t, http.StatusBadRequest, token(p.Issuer()+"/mod/lti/token.php"),
			"the token URL is not the audience here")
		require.Equal(t, http.StatusOK, token("https://api.brightspace.com/auth/token"))
		before := p.CertsRequests()
		resp, err := http.Get(p.Issuer() + "/mod/lti/certs.php")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
		require.Equal(t, before+1, p.CertsRequests())
	})
}

// A browser logged in with a ticket sees the activity page with the tool in
// an iframe, and the iframe's page starts the launch; Canvas' storage frame
// is part of the page.
func TestEmbeddedActivityPage(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{StorageTarget: "post_message_forwarding"})
	tool := newFakeTool(t)
	p.AddTool(tool.registration("c1"))
	u, err := p.EmbedURL(student, course, link, "c1")
	require.NoError(t, err)
	b := newBrowser(t, p)
	status, body := get(t, b.Client, u)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `name="post_message_forwarding"`)
	require.Contains(t, body, `id="contentframe"`)
	status, _ = get(t, b.Client, u)
	require.Equal(t, http.StatusForbidden, status, "a ticket works once")

	status, body = get(t, b.Client, p.Issuer()+"/mod/lti/launch.php?id=1")
	require.Equal(t, http.StatusOK, status)
	action, fields, err := ParseAutoSubmitForm(strings.NewReader(body))
	require.NoError(t, err)
	require.Equal(t, tool.srv.URL+"/login", action)
	require.Equal(t, student.ID, fields.Get("login_hint"))
	status, body = get(t, b.Client, p.Issuer()+"/mod/lti/post_message_forwarding.php")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "lti.get_data.response")
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
