package lti_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

// launchOf verifies minted claims and returns the launch.
func launchOf(t *testing.T, edit func(c map[string]any)) *lti.Launch {
	t.Helper()
	m := newMinted(t)
	c := validClaims(m.clk.now())
	edit(c)
	l, _, err := m.v.Verify(context.Background(), m.s.sign(t, c), testNonce)
	require.NoError(t, err)
	return l
}

func TestLaunchFrom13(t *testing.T) {
	t.Parallel()
	const (
		ltiNS = "https://purl.imsglobal.org/spec/lti/claim/"
		dl    = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
	)
	tests := []struct {
		name  string
		edit  func(c map[string]any)
		check func(t *testing.T, l *lti.Launch)
	}{
		{name: "deep linking booleans as strings (moodle before 4.0)", edit: func(c map[string]any) {
			c[ltiNS+"message_type"] = "LtiDeepLinkingRequest"
			c[dl] = map[string]any{"deep_link_return_url": "https://lms.example.test/dl?x=1",
				"accept_multiple": "true",
				"auto_create":     "FALSE", "accept_types": "ltiResourceLink", "data": "opaque"}
		}, check: func(t *testing.T, l *lti.Launch) {
			require.Equal(t,
				&lti.DeepLinkingSettings{ReturnURL: "https://lms.example.test/dl?x=1", AcceptMultiple: true,
					AcceptTypes: []string{"ltiResourceLink"}, Data: "opaque"}, l.DeepLinking)
		}},
		{name: "old basic outcome claim name", edit: func(c map[string]any) {
			c["https://purl.imsglobal.org/spec/lti-bos/claim/basicoutcomesservice"] = map[string]any{
				"lis_result_sourcedid": "sid", "lis_outcome_service_url": "https://lms.example.test/outcomes"}
		}, check: func(t *testing.T, l *lti.Launch) {
			require.Equal(t,
				&lti.BasicOutcome{ServiceURL: "https://lms.example.test/outcomes", SourcedID: "sid"}, l.Outcome)
		}},
		{name: "new basic outcome claim wins", edit: func(c map[string]any) {
			c["https://purl.imsglobal.org/spec/lti-bos/claim/basicoutcomesservice"] = map[string]any{
				"lis_result_sourcedid": "old", "lis_outcome_service_url": "https://lms.example.test/old"}
			c["https://purl.imsglobal.org/spec/lti-bo/claim/basicoutcome"] = map[string]any{
				"lis_result_sourcedid": "new", "lis_outcome_service_url": "https://lms.example.test/new"}
		}, check: func(t *testing.T, l *lti.Launch) { require.Equal(t, "new", l.Outcome.SourcedID) }},
		{name: "outcome without sourcedid is no outcome", edit: func(c map[string]any) {
			c["https://purl.imsglobal.org/spec/lti-bo/claim/basicoutcome"] = map[string]any{
				"lis_outcome_service_url": "https://lms.example.test/new"}
		}, check: func(t *testing.T, l *lti.Launch) { require.Nil(t, l.Outcome) }},
		{name: "old moodle family_code", edit: func(c map[string]any) {
			c[ltiNS+"tool_platform"] = map[string]any{"family_code": "moodle", "version": 2020061500}
		}, check: func(t *testing.T, l *lti.Launch) {
			require.Equal(t, lti.ToolPlatform{ProductFamilyCode: "moodle", Version: "2020061500"},
				l.ToolPlatform)
		}},
		{name: "context types in every vocabulary", edit: func(c map[string]any) {
			c[ltiNS+"context"] = map[string]any{"id": 42, "type": []any{
				"http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering",
				"urn:lti:context-type:ims/lis/CourseSection", "Group", "", 7}}
		}, check: func(t *testing.T, l *lti.Launch) {
			require.Equal(t,
				lti.Context{ID: "42", Types: []string{"CourseOffering", "CourseSection", "Group"}}, l.Context)
		}},
		{name: "custom values of every json type", edit: func(c map[string]any) {
			c[ltiNS+"custom"] = map[string]any{"s": "x", "n": 12.50, "big": 12345678901234567, "b": false,
				"o": map[string]any{"k": []any{1, "two"}}, "null": nil}
		}, check: func(t *testing.T, l *lti.Launch) {
			require.Equal(t,
				map[string]string{"s": "x", "n": "12.5", "big": "12345678901234567", "b": "false",
					"o": `{"k":[1,"two"]}`, "null": ""}, l.Custom)
		}},
		{name: "presentation sizes", edit: func(c map[string]any) {
			c[ltiNS+"launch_presentation"] = map[string]any{"width": 800, "height": "600",
				"document_target": "iframe"}
		}, check: func(t *testing.T, l *lti.Launch) {
			require.Equal(t, lti.Presentation{Width: 800, Height: 600, DocumentTarget: "iframe"},
				l.Presentation)
		}},
		{name: "ags and nrps", edit: func(c map[string]any) {
			c["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"] = map[string]any{
				"scope":    []any{"https://purl.imsglobal.org/spec/lti-ags/scope/score"},
				"lineitem": "https://lms.example.test/li/1?a=b"}
			c["https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"] = map[string]any{
				"context_memberships_url": "https://lms.example.test/m", "service_versions": []any{"2.0"}}
		}, check: func(t *testing.T, l *lti.Launch) {
			require.Equal(t,
				&lti.AGSEndpoint{Scopes: []string{"https://purl.imsglobal.org/spec/lti-ags/scope/score"},
					LineItem: "https://lms.example.test/li/1?a=b"}, l.AGS)
			require.Equal(t,
				&lti.NRPSEndpoint{MembershipsURL: "https://lms.example.test/m", Versions: []string{"2.0"}},
				l.NRPS)
		}},
		{name: "no optional claims", edit: func(c map[string]any) {},
			check: func(t *testing.T, l *lti.Launch) {
				require.Nil(t, l.AGS)
				require.Nil(t, l.NRPS)
				require.Nil(t, l.Outcome)
				require.Nil(t, l.DeepLinking)
				require.Nil(t, l.Custom)
				require.Empty(t, l.Username)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, launchOf(t, tt.edit))
		})
	}
}

func TestUsername13(t *testing.T) {
	t.Parallel()
	const (
		ext    = "https://purl.imsglobal.org/spec/lti/claim/ext"
		custom = "https://purl.imsglobal.org/spec/lti/claim/custom"
	)
	tests := []struct {
		name   string
		claims map[string]any
		want   string
	}{
		{"moodle ext claim first",
			map[string]any{ext: map[string]any{"user_username": "ext"}, "preferred_username": "pref",
				custom: map[string]any{"canvas_user_login_id": "canvas"}}, "ext"},
		{"preferred_username next", map[string]any{"preferred_username": "pref",
			custom: map[string]any{"canvas_user_login_id": "canvas"}}, "pref"},
		{"canvas login id",
			map[string]any{custom: map[string]any{"canvas_user_login_id": "canvas", "user_username": "u"}},
			"canvas"},
		{"custom user_username",
			map[string]any{custom: map[string]any{"user_username": "u", "moodle_user_login": "m"}}, "u"},
		{"custom moodle_user_login", map[string]any{custom: map[string]any{"moodle_user_login": "m"}},
			"m"},
		{"unresolved substitution skipped", map[string]any{custom: map[string]any{
			"canvas_user_login_id": "$Canvas.user.loginId", "moodle_user_login": "m"}}, "m"},
		{"blank skipped",
			map[string]any{ext: map[string]any{"user_username": "  "}, "preferred_username": "pref"},
			"pref"},
		{"nothing shared", map[string]any{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := launchOf(t, func(c map[string]any) {
				for k, v := range tt.claims {
					c[k] = v
				}
			})
			require.Equal(t, tt.want, l.Username)
		})
	}
}

func TestLaunchClaim(t *testing.T) {
	t.Parallel()
	l := launchOf(t, func(c map[string]any) {
		c["https://purl.imsglobal.org/spec/lti/claim/custom"] = map[string]any{
			"canvas_user_login_id": "ada", "n": 3,
			"nested": map[string]any{"deep": "x"}}
		c["https://purl.imsglobal.org/spec/lti/claim/lis"] = map[string]any{"person_sourcedid": "sis-1"}
		c["https://example.test/claim/x"] = map[string]any{"y": true}
		c["a"] = map[string]any{"b": "short"}
		c["a.b"] = "literal"
	})
	tests := []struct {
		path string
		want string
		ok   bool
	}{
		{"email", "ada@example.test", true},
		{"sub", "user-17", true},
		{"name", "Ada Lovelace", true},
		{"custom.canvas_user_login_id", "ada", true},
		{"https://purl.imsglobal.org/spec/lti/claim/custom.canvas_user_login_id", "ada", true},
		{"custom.n", "3", true},
		{"custom.nested.deep", "x", true},
		{"lis.person_sourcedid", "sis-1", true},
		{"https://example.test/claim/x.y", "true", true},
		{"message_type", "LtiResourceLinkRequest", true},
		{"resource_link.id", "rl-1", true},
		{"a.b", "literal", true},
		{"custom", "", false},
		{"custom.nested", "", false},
		{"roles", "", false},
		{"custom.missing", "", false},
		{"missing", "", false},
		{"email.x", "", false},
		{"", "", false},
		{".", "", false},
		{"ext.user_username", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			got, ok := l.Claim(tt.path)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.want, got)
		})
	}
}
