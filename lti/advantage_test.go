package lti_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

// moodleOpenIDConfiguration is the document Moodle 4.x serves at
// /mod/lti/openid-configuration.php, messages_supported as plain strings.
const moodleOpenIDConfiguration = `{
 "issuer": "https://moodle.example.edu",
 "token_endpoint": "https://moodle.example.edu/mod/lti/token.php",
 "token_endpoint_auth_methods_supported": ["private_key_jwt"],
 "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
 "jwks_uri": "https://moodle.example.edu/mod/lti/certs.php",
 "authorization_endpoint": "https://moodle.example.edu/mod/lti/auth.php",
 "registration_endpoint": "https://moodle.example.edu/mod/lti/openid-registration.php",
 "scopes_supported": ["https://purl.imsglobal.org/spec/lti-bo/scope/basicoutcome",
  "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
  "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
  "https://purl.imsglobal.org/spec/lti-ags/scope/score",
  "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
  "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly", "openid"],
 "response_types_supported": ["id_token"],
 "subject_types_supported": ["public", "pairwise"],
 "id_token_signing_alg_values_supported": ["RS256"],
 "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
 "https://purl.imsglobal.org/spec/lti-platform-configuration ": {
  "product_family_code": "moodle", "version": "4.5.6 (Build: 20250811)",
  "messages_supported": ["LtiResourceLink", "LtiDeepLinkingRequest"],
  "placements": ["AddContentMenu"], "variables": ["CourseSection.timeFrame.end"]}
}`

func TestParsePlatformConfiguration(t *testing.T) {
	t.Parallel()
	c, err := lti.ParsePlatformConfiguration([]byte(moodleOpenIDConfiguration))
	require.NoError(t, err)
	require.Equal(t, "https://moodle.example.edu", c.Issuer)
	require.Equal(t, "https://moodle.example.edu/mod/lti/auth.php", c.AuthorizationEndpoint)
	require.Equal(t, "moodle", c.ProductFamilyCode)
	require.Equal(t, []string{lti.MessageResourceLink, lti.MessageDeepLinking}, c.MessagesSupported,
		"strings, Moodle's short name and the trailing space in the member name are all read")

	// The specification's (and Canvas') form: objects, and an
	// authorization server that differs from the token URL (Brightspace).
	c, err = lti.ParsePlatformConfiguration([]byte(`{"issuer":"https://lms.test",
	 "authorization_endpoint":"https://lms.test/auth","token_endpoint":"https://lms.test/token",
	 "authorization_server":"https://api.lms.test/auth/token",
	 "jwks_uri":"https://lms.test/jwks","registration_endpoint":"https://lms.test/register",
	 "https://purl.imsglobal.org/spec/lti-platform-configuration":{"product_family_code":"canvas",
	  "messages_supported":[{"type":"LtiResourceLinkRequest"},{"type":"LtiDeepLinkingRequest","placements":["ContentArea"]}]}}`))
	require.NoError(t, err)
	require.True(t, c.SupportsMessage(lti.MessageDeepLinking))
	require.Equal(t, "https://api.lms.test/auth/token", c.AuthorizationServer)

	for name, doc := range map[string]string{
		"not json":           `<html>`,
		"no registration":    `{"issuer":"https://l","authorization_endpoint":"https://l/a","jwks_uri":"https://l/j"}`,
		"relative endpoint":  `{"issuer":"https://l","authorization_endpoint":"/a","jwks_uri":"https://l/j","registration_endpoint":"https://l/r"}`,
		"javascript jwks":    `{"issuer":"https://l","authorization_endpoint":"https://l/a","jwks_uri":"javascript:x","registration_endpoint":"https://l/r"}`,
		"no rs256":           `{"issuer":"https://l","authorization_endpoint":"https://l/a","jwks_uri":"https://l/j","registration_endpoint":"https://l/r","id_token_signing_alg_values_supported":["HS256"]}`,
		"trailing json data": `{"issuer":"https://l"} {}`,
	} {
		_, err := lti.ParsePlatformConfiguration([]byte(doc))
		require.Error(t, err, name)
	}
}

func TestRegistrationRequest(t *testing.T) {
	t.Parallel()
	c, err := lti.ParsePlatformConfiguration([]byte(moodleOpenIDConfiguration))
	require.NoError(t, err)
	reg := lti.ToolRegistration{Name: "Labhub", Description: "Jupyter notebooks",
		LoginURL: "https://www.labhub.example.edu:8443/lti/login", LaunchURL: "https://www.labhub.example.edu:8443/lti/launch",
		JWKSURL: "https://www.labhub.example.edu:8443/lti/jwks", DeepLinkingURL: "https://www.labhub.example.edu:8443/lti/launch",
		Scopes: []string{lti.ScopeMemberships, lti.ScopeScore, "https://example.test/not-offered"},
		Claims: []string{"name", "email", "picture"}}
	b, err := reg.RegistrationRequest(c)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	require.Equal(t, "web", got["application_type"])
	require.Equal(t, []any{"id_token"}, got["response_types"])
	require.Equal(t, "private_key_jwt", got["token_endpoint_auth_method"])
	require.Equal(t, []any{"https://www.labhub.example.edu:8443/lti/launch"}, got["redirect_uris"])
	require.Equal(t, lti.ScopeMemberships+" "+lti.ScopeScore, got["scope"], "only scopes the platform offers")
	tc := got["https://purl.imsglobal.org/spec/lti-tool-configuration"].(map[string]any)
	require.Equal(t, "labhub.example.edu:8443", tc["domain"], "Moodle's domain: host and port, without www.")
	require.Equal(t, []any{"iss", "sub", "name", "email"}, tc["claims"])
	msgs := tc["messages"].([]any)
	require.Len(t, msgs, 2)
	require.Equal(t, lti.MessageDeepLinking, msgs[1].(map[string]any)["type"])

	// A platform without deep linking is not offered it.
	c.MessagesSupported = []string{lti.MessageResourceLink}
	b, err = reg.RegistrationRequest(c)
	require.NoError(t, err)
	require.NotContains(t, string(b), lti.MessageDeepLinking)
}

func TestParseRegistrationResponse(t *testing.T) {
	t.Parallel()
	r, err := lti.ParseRegistrationResponse([]byte(`{"client_id":"abcDEF123456789","scope":"a b",
	 "https://purl.imsglobal.org/spec/lti-tool-configuration":{"deployment_id":"7","domain":"x"}}`))
	require.NoError(t, err)
	require.Equal(t, &lti.RegistrationResponse{ClientID: "abcDEF123456789", DeploymentID: "7",
		Scope: []string{"a", "b"}}, r)
	_, err = lti.ParseRegistrationResponse([]byte(`{"scope":"a"}`))
	require.Error(t, err)

	require.Equal(t, "token_already_used", lti.RegistrationErrorCode([]byte("token_already_used")))
	require.Equal(t, "invalid_client_metadata", lti.RegistrationErrorCode([]byte(`{"error":"invalid_client_metadata"}`)))
	require.Empty(t, lti.RegistrationErrorCode([]byte("<html>Server error</html>")))
}

func TestDeepLinkingResponse(t *testing.T) {
	t.Parallel()
	priv, err := jwk.FromRaw(testRSAKey(t, 1))
	require.NoError(t, err)
	require.NoError(t, priv.Set(jwk.KeyIDKey, "tool-1"))
	p := lti.Platform{Issuer: "https://moodle.example.edu", ClientID: "VryCb7iV0MyxRum"}
	l := &lti.Launch{DeploymentID: "1", DeepLinking: &lti.DeepLinkingSettings{
		ReturnURL:   "https://moodle.example.edu/mod/lti/contentitem_return.php?course=2&id=1&sesskey=x",
		AcceptTypes: []string{"ltiResourceLink"}, AcceptMultiple: true, Data: "opaque-data"}}
	now := time.Unix(1_800_000_000, 0)
	items := []lti.ResourceLinkItem{{Title: "Week 1", Text: "Intro",
		Custom:   map[string]string{"labhub_image": "scipy", "labhub_start": "week1/intro.ipynb"},
		LineItem: &lti.LineItemSpec{ScoreMaximum: 10, Tag: "labhub"}}}
	tok, err := lti.DeepLinkingResponse(p, l, items, priv, now)
	require.NoError(t, err)

	pub, err := jwk.PublicKeyOf(priv)
	require.NoError(t, err)
	parsed, err := jwt.Parse([]byte(tok), jwt.WithKey(jwa.RS256, pub), jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })))
	require.NoError(t, err)
	require.Equal(t, "VryCb7iV0MyxRum", parsed.Issuer())
	require.Equal(t, []string{"https://moodle.example.edu"}, parsed.Audience())
	require.True(t, now.Add(lti.DeepLinkingResponseTTL).Equal(parsed.Expiration()))
	claims := parsed.PrivateClaims()
	require.Equal(t, "LtiDeepLinkingResponse", claims["https://purl.imsglobal.org/spec/lti/claim/message_type"])
	require.Equal(t, "1", claims["https://purl.imsglobal.org/spec/lti/claim/deployment_id"])
	require.Equal(t, "opaque-data", claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"])
	require.NotEmpty(t, claims["nonce"])
	ci := claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"].([]any)
	require.Len(t, ci, 1)
	item := ci[0].(map[string]any)
	require.Equal(t, map[string]any{"type": "ltiResourceLink", "title": "Week 1", "text": "Intro",
		"custom":   map[string]any{"labhub_image": "scipy", "labhub_start": "week1/intro.ipynb"},
		"lineItem": map[string]any{"scoreMaximum": 10.0, "label": "Week 1", "tag": "labhub"}}, item,
		"no url: Moodle would detach the activity from the tool")

	// What the request does not accept is refused.
	l.DeepLinking.AcceptMultiple = false
	_, err = lti.DeepLinkingResponse(p, l, append(items, items[0]), priv, now)
	require.Error(t, err)
	l.DeepLinking.AcceptTypes = []string{"file"}
	_, err = lti.DeepLinkingResponse(p, l, items, priv, now)
	require.Error(t, err)
	l.DeepLinking.AcceptTypes = nil
	_, err = lti.DeepLinkingResponse(p, l, []lti.ResourceLinkItem{{Title: "x",
		LineItem: &lti.LineItemSpec{ScoreMaximum: -1}}}, priv, now)
	require.Error(t, err)
	_, err = lti.DeepLinkingResponse(p, &lti.Launch{}, items, priv, now)
	require.Error(t, err)
}

func TestParseMemberships(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"https://lms.test/m","context":{"id":"2","label":"LTI101","title":"Course"},
	 "members":[
	  {"status":"Active","roles":["Instructor"],"user_id":"3","name":"Terry Teacher","email":"t@x"},
	  {"status":"Active","roles":["Learner"],"user_id":4,"given_name":"Sam",
	   "message":[{"https://purl.imsglobal.org/spec/lti/claim/message_type":"LtiResourceLinkRequest",
	    "https://purl.imsglobal.org/spec/lti/claim/ext":{"user_username":"student1"}}]},
	  {"status":"Inactive","roles":["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],"user_id":"5"},
	  {"roles":["Learner"]}]}`)
	page, err := lti.ParseMemberships(body,
		`<https://lms.test/other>; rel="prev", <https://lms.test/m?limit=2&from=2>; rel="next"`,
		"https://lms.test/m?limit=2")
	require.NoError(t, err)
	require.Equal(t, "https://lms.test/m?limit=2&from=2", page.Next)
	require.Equal(t, "LTI101", page.Context.Label)
	require.Len(t, page.Members, 3, "a member without user_id is left out")
	require.Equal(t, "4", page.Members[1].UserID)
	require.False(t, page.Members[2].Active())

	roles := lti.RoleMapping{}
	teacher := page.Members[0].Launch(roles)
	require.Equal(t, lti.RoleInstructor, teacher.Roles.Course, "short role names")
	require.Equal(t, "3", teacher.Subject)
	require.Equal(t, "t@x", teacher.Email)
	student := page.Members[1].Launch(roles)
	require.Equal(t, "student1", student.Username, "the username claim of the member's message")
	require.Equal(t, lti.RoleLearner, page.Members[2].Launch(roles).Roles.Course, "role URIs")
	v, ok := student.Claim("given_name")
	require.True(t, ok)
	require.Equal(t, "Sam", v)

	page, err = lti.ParseMemberships([]byte(`{"members":[]}`), `</m?from=4>; rel=next`, "https://lms.test/m")
	require.NoError(t, err)
	require.Equal(t, "https://lms.test/m?from=4", page.Next, "relative next links resolve")
	page, err = lti.ParseMemberships([]byte(`{"members":[]}`), "", "https://lms.test/m")
	require.NoError(t, err)
	require.Empty(t, page.Next)

	_, err = lti.ParseMemberships([]byte(`{"members":[]}`), `<javascript:alert(1)>; rel="next"`, "https://lms.test/m")
	require.Error(t, err)
	_, err = lti.ParseMemberships([]byte(`{"context":{}}`), "", "https://lms.test/m")
	require.Error(t, err)
}

func TestStateCarriesStorageTarget(t *testing.T) {
	t.Parallel()
	c := &lti.StateCodec{Key: make([]byte, 32)}
	raw, nonce, s, err := c.NewLogin("7", lti.LoginRequest{TargetLinkURI: "https://hub.test/lti/launch",
		DeploymentID: "d", StorageTarget: "post_message_forwarding"})
	require.NoError(t, err)
	require.NotEmpty(t, nonce)
	got, err := c.Open(raw)
	require.NoError(t, err)
	require.Equal(t, s, got)
	require.Equal(t, "post_message_forwarding", got.StorageTarget)
}

func TestPreviewToken(t *testing.T) {
	t.Parallel()
	m := newMinted(t)
	c := validClaims(m.clk.now())
	c["name"] = "Ada\x07 Lovelace"
	c["https://purl.imsglobal.org/spec/lti/claim/context"] = map[string]any{"title": "Analysis"}
	c["https://purl.imsglobal.org/spec/lti/claim/resource_link"] = map[string]any{"id": "1", "title": "Lab 1"}
	require.Equal(t, lti.Preview{Person: "Ada Lovelace", Course: "Analysis", Activity: "Lab 1"},
		lti.PreviewToken(m.s.sign(t, c)), "control characters are dropped")
	delete(c, "name")
	c["https://purl.imsglobal.org/spec/lti/claim/ext"] = map[string]any{"user_username": "ada"}
	require.Equal(t, "ada", lti.PreviewToken(m.s.sign(t, c)).Person)
	require.Equal(t, lti.Preview{}, lti.PreviewToken("not a token"))
}
