package lms

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// moodleLaunch is the captured LTI 1.1 launch form of a real Moodle 4.5.6.
type moodleLaunch struct {
	Action string      `json:"action"`
	Fields [][2]string `json:"fields"`
}

func loadMoodleLTI11(t *testing.T) (string, Form) {
	t.Helper()
	var ml moodleLaunch
	require.NoError(t, json.Unmarshal(readTestdata(t, "lti11-student-launch.json"), &ml))
	var f Form
	for _, kv := range ml.Fields {
		f = append(f, Field{kv[0], kv[1]})
	}
	return ml.Action, f
}

// The captured form was signed by Moodle with the secret in the fixture's
// README; our signer must produce the same signature from the same fields.
func TestOAuthSignatureReproducesMoodle(t *testing.T) {
	t.Parallel()
	action, fields := loadMoodleLTI11(t)
	want := fields.Get("oauth_signature")
	require.Equal(t, "+dLt/Z8C+rvCEy5KdIcR3zWZniw=", want)

	got, err := OAuthSignature("POST", action, fields, "moodle-lti11-secret")
	require.NoError(t, err)
	require.Equal(t, want, got)

	// Any change to what is signed must change the signature.
	for _, tc := range []struct {
		name           string
		method, action string
		secret         string
		mutate         func(*Form)
	}{
		{name: "wrong secret", secret: "moodle-lti11-secreT"},
		{name: "GET instead of POST", method: "GET"},
		{name: "https action", action: strings.Replace(action, "http://", "https://", 1)},
		{name: "other path", action: action + "/"},
		{name: "changed role", mutate: func(f *Form) { f.Set("roles", "Instructor") }},
		{name: "dropped field", mutate: func(f *Form) { f.Del("lis_person_sourcedid") }},
		{name: "extra field", mutate: func(f *Form) { f.Set("custom_x", "1") }},
		{name: "space in value", mutate: func(f *Form) { f.Set("context_title", "LTI  Acceptance Course") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := append(Form(nil), fields...)
			if tc.mutate != nil {
				tc.mutate(&f)
			}
			method, a, secret := "POST", action, "moodle-lti11-secret"
			if tc.method != "" {
				method = tc.method
			}
			if tc.action != "" {
				a = tc.action
			}
			if tc.secret != "" {
				secret = tc.secret
			}
			sig, err := OAuthSignature(method, a, f, secret)
			require.NoError(t, err)
			require.NotEqual(t, want, sig)
		})
	}
}

// signLTI11Form, given Moodle's launch fields, nonce and timestamp, must
// reproduce the captured form exactly: every field, in order, and the
// signature.
func TestSignLTI11FormReproducesMoodleForm(t *testing.T) {
	t.Parallel()
	action, fields := loadMoodleLTI11(t)
	// Moodle puts the four oauth defaults first and the signature method and
	// signature last; in between are the launch fields.
	require.Equal(t, "oauth_version", fields[0].Name)
	require.Equal(t, "oauth_signature", fields[len(fields)-1].Name)
	launchFields := append(Form(nil), fields[4:len(fields)-2]...)
	ts, err := strconv.ParseInt(fields.Get("oauth_timestamp"), 10, 64)
	require.NoError(t, err)

	got, err := signLTI11Form(action, fields.Get("oauth_consumer_key"), "moodle-lti11-secret",
		fields.Get("oauth_nonce"), ts, launchFields)
	require.NoError(t, err)
	require.Equal(t, fields, got)
}

// A launch built by the platform has exactly Moodle's field names in
// Moodle's order.
func TestSignLTI11FieldOrderMatchesMoodle(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	p.AddTool(Tool{ClientID: "c1", DeploymentID: "2", ConsumerKey: "moodle-lti11-key",
		SharedSecret: "s", LTI11LaunchURL: "http://127.0.0.1:9/lti11/launch"})
	l := Link{ID: "2", Title: "Jupyter (LTI 1.1)", LineItem: true, Custom: map[string]string{
		"activity_custom": "lti11-demo", "course_shortname": "$CourseSection.title",
	}}
	action, form, err := p.SignLTI11(student, course, l, "moodle-lti11-key")
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:9/lti11/launch", action)

	_, moodle := loadMoodleLTI11(t)
	names := func(f Form) []string {
		var n []string
		for _, fl := range f {
			n = append(n, fl.Name)
		}
		return n
	}
	require.Equal(t, names(moodle), names(form))

	// Values that do not depend on the site, the clock or randomness are
	// Moodle's.
	for _, name := range []string{
		"oauth_version", "oauth_consumer_key", "user_id", "lis_person_sourcedid", "roles",
		"context_id", "context_label", "context_title", "lti_message_type", "resource_link_title",
		"resource_link_description", "resource_link_id", "context_type", "lis_course_section_sourcedid",
		"lis_person_name_given", "lis_person_name_family", "lis_person_name_full", "ext_user_username",
		"lis_person_contact_email_primary", "launch_presentation_locale", "ext_lms",
		"tool_consumer_info_product_family_code", "tool_consumer_info_version", "oauth_callback",
		"lti_version", "custom_activity_custom", "custom_course_shortname",
		"launch_presentation_document_target", "oauth_signature_method",
	} {
		require.Equal(t, moodle.Get(name), form.Get(name), name)
	}
	require.Equal(t, p.Issuer()+"/mod/lti/service.php", form.Get("lis_outcome_service_url"))
	require.True(t, strings.HasPrefix(form.Get("launch_presentation_return_url"),
		p.Issuer()+"/mod/lti/return.php?course=2&launch_container=4&instanceid=2&sesskey="))

	// The sourcedid has Moodle's shape.
	var env sourcedEnvelope
	require.NoError(t, json.Unmarshal([]byte(form.Get("lis_result_sourcedid")), &env))
	require.Equal(t, sourcedData{InstanceID: "2", UserID: "4", TypeID: "2", LaunchID: env.Data.LaunchID}, env.Data)
	require.Len(t, env.Hash, 64)

	// And the signature verifies.
	sig, err := OAuthSignature("POST", action, form, "s")
	require.NoError(t, err)
	require.Equal(t, form.Get("oauth_signature"), sig)
}

func TestSignLTI11WithoutLineItemSendsNoOutcomeService(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	p.AddTool(Tool{ClientID: "c1", ConsumerKey: "k", SharedSecret: "s", LTI11LaunchURL: "http://127.0.0.1:9/l"})
	_, form, err := p.SignLTI11(student, course, Link{ID: "5", Title: "Ungraded"}, "k")
	require.NoError(t, err)
	require.False(t, form.Has("lis_result_sourcedid"))
	require.False(t, form.Has("lis_outcome_service_url"))
}

// Query parameters of the launch URL are signed but stay in the URL.
func TestSignLTI11QueryParameters(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, url string
		query     []string
		// collides marks a query name that is also a launch field: Moodle
		// signs the launch value, drops the field from the form, and the
		// tool sees only the query value, so the launch cannot verify.
		collides bool
	}{
		{name: "plain query", url: "http://127.0.0.1:9/launch?course=abc&x=1", query: []string{"course", "x"}},
		{name: "encoded values", url: "http://127.0.0.1:9/launch?q=a%20b%2Bc&empty=", query: []string{"q", "empty"}},
		{name: "default port and upper-case host", url: "http://LOCALHOST:80/launch?k=v", query: []string{"k"}},
		{name: "name shared with a launch field", url: "http://127.0.0.1:9/launch?user_id=999",
			query: []string{"user_id"}, collides: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, _ := newTestPlatform(t, Options{})
			p.AddTool(Tool{ClientID: "c", ConsumerKey: "k", SharedSecret: "s&e+c r=t", LTI11LaunchURL: tc.url})
			action, form, err := p.SignLTI11(student, course, link, "k")
			require.NoError(t, err)
			require.Equal(t, tc.url, action)
			for _, q := range tc.query {
				require.False(t, form.Has(q), "query parameter %q must not be posted", q)
			}
			sig, err := OAuthSignature("POST", action, form, "s&e+c r=t")
			require.NoError(t, err)
			if tc.collides {
				require.NotEqual(t, form.Get("oauth_signature"), sig)
				return
			}
			require.Equal(t, form.Get("oauth_signature"), sig)
			// Without the query the signature no longer matches.
			bare := strings.SplitN(action, "?", 2)[0]
			sig, err = OAuthSignature("POST", bare, form, "s&e+c r=t")
			require.NoError(t, err)
			require.NotEqual(t, form.Get("oauth_signature"), sig)
		})
	}
}

func TestSignLTI11Errors(t *testing.T) {
	t.Parallel()
	p, _ := newTestPlatform(t, Options{})
	p.AddTool(Tool{ClientID: "only13", LoginURL: "http://127.0.0.1:9/login"})
	_, _, err := p.SignLTI11(student, course, link, "only13")
	require.ErrorContains(t, err, "no lti 1.1 registration")
	_, _, err = p.SignLTI11(student, course, link, "unknown")
	require.ErrorContains(t, err, "no tool")
}

func TestLTI11Roles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		roles []string
		want  string
	}{
		{"learner", []string{RoleLearner}, "Learner"},
		{"instructor", []string{RoleInstructor}, "Instructor"},
		{"site admin as Moodle sends it", []string{RoleSysAdmin, RoleInstructor, RoleInstAdmin},
			"Instructor,urn:lti:sysrole:ims/lis/Administrator,urn:lti:instrole:ims/lis/Administrator"},
		{"sub-role", []string{"http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor#TeachingAssistant"},
			"Instructor#TeachingAssistant"},
		{"unknown URI passes through", []string{"urn:example:role"}, "urn:example:role"},
		{"none", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, lti11Roles(tc.roles))
		})
	}
}

func TestPercentEncode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"abcXYZ019-._~", "abcXYZ019-._~"},
		{"a b", "a%20b"},
		{"a+b", "a%2Bb"},
		{"*", "%2A"},
		{"about:blank", "about%3Ablank"},
		{"é", "%C3%A9"},
		{"%", "%25"},
		{"\x00", "%00"},
	} {
		require.Equal(t, tc.want, percentEncode(tc.in), tc.in)
	}
}

func TestOAuthBaseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{in: "http://127.0.0.1:9000/lti11/launch", want: "http://127.0.0.1:9000/lti11/launch"},
		{in: "http://Example.COM:80/a?b=c#d", want: "http://example.com/a"},
		{in: "https://example.com:443/", want: "https://example.com/"},
		{in: "https://example.com:8443/x", want: "https://example.com:8443/x"},
		{in: "http://example.com/a%2Fb", want: "http://example.com/a%2Fb"},
		{in: "/relative", bad: true},
		{in: "http://[::1", bad: true},
	} {
		got, err := oauthBaseURL(tc.in)
		if tc.bad {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}

func TestParseOAuthHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, header string
		want         Form
		ok           bool
	}{
		{"quoted with realm", `OAuth realm="",oauth_consumer_key="k%20y",oauth_nonce="n"`,
			Form{{"oauth_consumer_key", "k y"}, {"oauth_nonce", "n"}}, true},
		{"unquoted and spaces", `OAuth oauth_version=1.0, oauth_body_hash="a%2Bb"`,
			Form{{"oauth_version", "1.0"}, {"oauth_body_hash", "a+b"}}, true},
		{"raw plus becomes a space as in Moodle", `OAuth oauth_body_hash="a+b"`,
			Form{{"oauth_body_hash", "a b"}}, true},
		{"not oauth", `Bearer abc`, nil, false},
		{"bad escape", `OAuth oauth_nonce="%zz"`, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := parseOAuthHeader(tc.header)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}
