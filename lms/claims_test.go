package lms

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/stretchr/testify/require"
)

const fixtureClientID = "VryCb7iV0MyxRum"

// fetchJWKS reads the platform key set the way a tool does.
func fetchJWKS(t *testing.T, p *Platform) jwk.Set {
	t.Helper()
	resp, err := http.Get(p.Issuer() + "/mod/lti/certs.php")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	set, err := jwk.ParseReader(resp.Body)
	require.NoError(t, err)
	return set
}

// verifyIDToken checks an id_token's signature with the published key set
// and returns its claims.
func verifyIDToken(t *testing.T, p *Platform, token string) map[string]any {
	t.Helper()
	_, err := jwt.Parse([]byte(token), jwt.WithKeySet(fetchJWKS(t, p)), jwt.WithValidate(true),
		jwt.WithAudience(fixtureClientID), jwt.WithIssuer(p.Issuer()))
	require.NoError(t, err)
	return jwtPayload(t, token)
}

// requireSameShape checks that got has exactly want's keys at every level
// and the same JSON types.
func requireSameShape(t *testing.T, path string, want, got any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		require.True(t, ok, "%s: want an object, got %T", path, got)
		keys := func(m map[string]any) []string {
			var k []string
			for key := range m {
				k = append(k, key)
			}
			slices.Sort(k)
			return k
		}
		require.Equal(t, keys(w), keys(g), "%s: keys", path)
		for k := range w {
			requireSameShape(t, path+"."+k, w[k], g[k])
		}
	case []any:
		g, ok := got.([]any)
		require.True(t, ok, "%s: want an array, got %T", path, got)
		if len(w) > 0 && len(g) > 0 {
			requireSameShape(t, path+"[0]", w[0], g[0])
		}
	default:
		require.IsType(t, want, got, path)
	}
}

// The fixtures are real Moodle tokens; they must verify with Moodle's key
// set, or they are not what the other tests think they are.
func TestFixtureTokensVerifyWithMoodleKeys(t *testing.T) {
	t.Parallel()
	set, err := jwk.Parse(readTestdata(t, "platform-jwks.json"))
	require.NoError(t, err)
	for _, name := range []string{"lti13-student-resource-link.jwt", "lti13-teacher-resource-link.jwt"} {
		tok := strings.TrimSpace(string(readTestdata(t, name)))
		_, err := jws.Verify([]byte(tok), jws.WithKeySet(set))
		require.NoError(t, err, name)
		_, err = jws.Verify([]byte(tok[:len(tok)-4]+"AAAA"), jws.WithKeySet(set))
		require.Error(t, err, name)
	}
}

// A launch through the auth endpoint yields an id_token that verifies with
// the published keys and has Moodle's claim set, key for key.
func TestLaunchIDTokenMatchesMoodle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fixture string
		user    User
		role    string
	}{
		{"lti13-student-resource-link.jwt", student, RoleLearner},
		{"lti13-teacher-resource-link.jwt", teacher, RoleInstructor},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			t.Parallel()
			p, _ := newTestPlatform(t, Options{})
			tool := newFakeTool(t)
			p.AddTool(Tool{ClientID: fixtureClientID, DeploymentID: "1",
				LoginURL: tool.srv.URL + "/login", RedirectURIs: []string{tool.srv.URL + "/launch"},
				TargetLinkURI: tool.srv.URL + "/launch"})
			resp, err := newBrowser(t, p).LaunchLTI13(ctxT(t), tc.user, course, link, fixtureClientID)
			require.NoError(t, err)
			resp.Body.Close()

			posted := tool.lastLaunch(t)
			got := verifyIDToken(t, p, posted.Get("id_token"))
			want := jwtPayload(t, string(readTestdata(t, tc.fixture)))
			requireSameShape(t, "claims", want, got)

			// Values that do not depend on the site or the moment are
			// Moodle's.
			same := []string{"aud", "sub", "given_name", "family_name", "name", "email",
				ClaimDeploymentID, ClaimRoles, ClaimContext, ClaimMessageType, ClaimResourceLink,
				ClaimLIS, ClaimExt, ClaimVersion}
			for _, k := range same {
				require.Equal(t, want[k], got[k], k)
			}
			require.Equal(t, []any{tc.role}, got[ClaimRoles])
			require.IsType(t, "", got["aud"], "aud must be a string, as Moodle sends it")
			require.EqualValues(t, 60, got["exp"].(float64)-got["iat"].(float64))
			require.Equal(t, p.Issuer(), got["iss"])
			require.Equal(t, tool.srv.URL+"/launch", got[ClaimTargetLink])

			tool.mu.Lock()
			nonce := tool.states[posted.Get("state")]
			tool.mu.Unlock()
			require.NotEmpty(t, nonce)
			require.Equal(t, nonce, got["nonce"])

			wantTP := want[ClaimToolPlatform].(map[string]any)
			gotTP := got[ClaimToolPlatform].(map[string]any)
			require.Equal(t, wantTP["product_family_code"], gotTP["product_family_code"])
			require.Equal(t, wantTP["version"], gotTP["version"])

			pres := got[ClaimPresentation].(map[string]any)
			require.Equal(t, "en", pres["locale"])
			require.Equal(t, "window", pres["document_target"])
			require.True(t, strings.HasPrefix(pres["return_url"].(string),
				p.Issuer()+"/mod/lti/return.php?course=2&launch_container=4&instanceid=1&sesskey="))

			memberships := p.Issuer() + "/mod/lti/services.php/CourseSection/2/bindings/1/memberships"
			require.Equal(t, map[string]any{
				"activity_custom":         "lti13-demo",
				"course_shortname":        "LTI Acceptance Course",
				"moodle_user_login":       tc.user.Username,
				"context_memberships_url": memberships,
			}, got[ClaimCustom])
			require.Equal(t, map[string]any{
				"context_memberships_url": memberships,
				"service_versions":        []any{"1.0", "2.0"},
			}, got[ClaimNRPS])

			ags := got[ClaimAGS].(map[string]any)
			require.Equal(t, want[ClaimAGS].(map[string]any)["scope"], ags["scope"])
			require.Equal(t, p.Issuer()+"/mod/lti/services.php/2/lineitems?type_id=1", ags["lineitems"])
			require.Regexp(t, `^`+p.Issuer()+`/mod/lti/services.php/2/lineitems/\d+/lineitem\?type_id=1$`, ags["lineitem"])

			bo := got[ClaimBasicOutcome].(map[string]any)
			require.Equal(t, p.Issuer()+"/mod/lti/service.php", bo["lis_outcome_service_url"])
			var env sourcedEnvelope
			require.NoError(t, json.Unmarshal([]byte(bo["lis_result_sourcedid"].(string)), &env))
			require.Equal(t, "1", env.Data.InstanceID)
			require.Equal(t, tc.user.ID, env.Data.UserID)
			require.Equal(t, "1", env.Data.TypeID)
		})
	}
}

// Without a gradebook column Moodle sends neither lineitem nor the basic
// outcome claim, but still the lineitems URL.
func TestLaunchClaimsWithoutLineItem(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	p.AddTool(Tool{ClientID: "c", DeploymentID: "7", TargetLinkURI: "http://127.0.0.1:9/launch"})
	claims, err := p.LaunchClaims(student, course, Link{ID: "9", Title: "Ungraded"}, "c", "n-1")
	require.NoError(t, err)
	ags := claims[ClaimAGS].(map[string]any)
	require.NotContains(t, ags, "lineitem")
	require.Equal(t, p.Issuer()+"/mod/lti/services.php/2/lineitems?type_id=7", ags["lineitems"])
	require.NotContains(t, claims, ClaimBasicOutcome)
	require.NotContains(t, claims, ClaimCustom)
	require.Equal(t, "n-1", claims["nonce"])

	_, err = p.LaunchClaims(student, course, link, "nope", "n")
	require.Error(t, err)
}

// Custom parameter keys are mapped the Moodle way; LTI 1.3 launches carry
// the original key too.
func TestCustomParameters(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	p.AddTool(Tool{ClientID: "c", ConsumerKey: "k", SharedSecret: "s", LTI11LaunchURL: "http://127.0.0.1:9/l"})
	l := Link{ID: "1", Title: "t", Custom: map[string]string{
		"Mixed-Case Key": "v1",
		"user":           "$User.id",
		"unknown":        "$Not.a.variable",
		"literal":        "x$User.id",
	}}
	claims, err := p.LaunchClaims(student, course, l, "c", "n")
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"Mixed-Case Key": "v1", "mixed_case_key": "v1",
		"user": "4", "unknown": "$Not.a.variable", "literal": "x$User.id",
	}, claims[ClaimCustom])

	_, form, err := p.SignLTI11(student, course, l, "k")
	require.NoError(t, err)
	require.Equal(t, "v1", form.Get("custom_mixed_case_key"))
	require.False(t, form.Has("custom_Mixed-Case Key"))
	require.Equal(t, "4", form.Get("custom_user"))
}

// IDToken signs whatever it is given with the current key; tampered claims
// still verify, which is what negative tests of a tool need.
func TestIDTokenSignsArbitraryClaims(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	tok, err := p.IDToken(map[string]any{"aud": []string{"a", "b"}, "iss": "https://evil.example", "x": "<&>"})
	require.NoError(t, err)
	msg, err := jws.Verify([]byte(tok), jws.WithKeySet(fetchJWKS(t, p)))
	require.NoError(t, err)
	require.JSONEq(t, `{"aud":["a","b"],"iss":"https://evil.example","x":"<&>"}`, string(msg))
	require.NotContains(t, string(msg), `\u003c`, "payload must not be HTML-escaped")
}

// After a rotation new tokens carry the new kid, and both keys stay
// published so tokens issued before still verify.
func TestRotateKey(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{KeyID: "first"})
	require.Equal(t, "first", p.KeyID())
	old, err := p.IDToken(map[string]any{"n": 1})
	require.NoError(t, err)
	require.NoError(t, p.RotateKey())
	require.NotEqual(t, "first", p.KeyID())
	fresh, err := p.IDToken(map[string]any{"n": 2})
	require.NoError(t, err)

	set := fetchJWKS(t, p)
	require.Equal(t, 2, set.Len())
	for _, tok := range []string{old, fresh} {
		_, err := jws.Verify([]byte(tok), jws.WithKeySet(set))
		require.NoError(t, err)
	}
	msg, err := jws.Parse([]byte(fresh))
	require.NoError(t, err)
	require.Equal(t, p.KeyID(), msg.Signatures()[0].ProtectedHeaders().KeyID())
	require.Equal(t, "JWT", msg.Signatures()[0].ProtectedHeaders().Type())
	require.JSONEq(t, string(p.JWKS()), mustJSON(t, set))
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// The token lifetime and the clock are configurable, for expiry tests.
func TestTokenLifetimeAndClock(t *testing.T) {
	t.Parallel()
	at := time.Unix(1796301066, 0)
	p, _ := newTestPlatform(t, Options{Now: func() time.Time { return at }, TokenLifetime: 5 * time.Second})
	p.AddTool(Tool{ClientID: "c"})
	claims, err := p.LaunchClaims(student, course, link, "c", "n")
	require.NoError(t, err)
	require.EqualValues(t, 1796301066, claims["iat"])
	require.EqualValues(t, 1796301071, claims["exp"])
}

// Each supported substitution variable is replaced with the launch's value.
func TestSubstitutionVariables(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	p.AddTool(Tool{ClientID: "c", DeploymentID: "4"})
	vars := map[string]string{
		"$User.id": "4", "$User.username": "student1",
		"$Person.name.given": "Sam", "$Person.name.family": "Student", "$Person.name.full": "Sam Student",
		"$Person.email.primary": "student1@example.invalid",
		"$Context.id":           "2", "$CourseSection.sourcedId": "2",
		"$Context.title": "LTI Acceptance Course", "$CourseSection.title": "LTI Acceptance Course",
		"$Context.label": "LTI101", "$CourseSection.label": "LTI101",
		"$ResourceLink.id": "1", "$ResourceLink.title": "Jupyter (LTI 1.3)",
		"$ToolProxyBinding.memberships.url": p.Issuer() + "/mod/lti/services.php/CourseSection/2/bindings/4/memberships",
		"$LineItems.url":                    p.Issuer() + "/mod/lti/services.php/2/lineitems?type_id=4",
	}
	l := Link{ID: "1", Title: "Jupyter (LTI 1.3)", LineItem: true, Custom: map[string]string{}}
	i := 0
	keyOf := map[string]string{}
	for v := range vars {
		k := fmt.Sprintf("v%02d", i)
		keyOf[v], l.Custom[k] = k, v
		i++
	}
	l.Custom["item"] = "$LineItem.url"
	claims, err := p.LaunchClaims(student, course, l, "c", "n")
	require.NoError(t, err)
	custom := claims[ClaimCustom].(map[string]any)
	for v, want := range vars {
		require.Equal(t, want, custom[keyOf[v]], v)
	}
	require.Equal(t, claims[ClaimAGS].(map[string]any)["lineitem"], custom["item"])

	ungraded := Link{ID: "8", Custom: map[string]string{"item": "$LineItem.url"}}
	claims, err = p.LaunchClaims(student, course, ungraded, "c", "n")
	require.NoError(t, err)
	require.Equal(t, "", claims[ClaimCustom].(map[string]any)["item"])
}
