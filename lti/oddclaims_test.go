package lti_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

// Platforms and their older versions bend the claims: each quirk here is
// one a real platform sends, and each launch is accepted and read right.
func TestOddClaims(t *testing.T) {
	t.Parallel()
	const (
		ltiNS = "https://purl.imsglobal.org/spec/lti/claim/"
		dlNS  = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
	)
	tests := []struct {
		name  string
		edit  func(c map[string]any)
		check func(t *testing.T, l *lti.Launch)
	}{
		{name: "sub as a number", edit: func(c map[string]any) { c["sub"] = 17 },
			check: func(t *testing.T, l *lti.Launch) { require.Equal(t, "17", l.Subject) }},
		{name: "missing sub, lti 1.1 user id of a migrated tool", edit: func(c map[string]any) {
			delete(c, "sub")
			c[ltiNS+"lti11_legacy_user_id"] = "42"
		}, check: func(t *testing.T, l *lti.Launch) {
			require.Equal(t, "lti11:42", l.Subject, "marked so that it never equals another person's sub")
		}},
		{name: "missing sub in a deep linking request", edit: func(c map[string]any) {
			delete(c, "sub")
			c[ltiNS+"message_type"] = "LtiDeepLinkingRequest"
			delete(c, ltiNS+"resource_link")
			c[dlNS] = map[string]any{"deep_link_return_url": "https://lms.example.test/dl"}
			c[ltiNS+"roles"] = []any{"http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"}
		}, check: func(t *testing.T, l *lti.Launch) {
			require.Empty(t, l.Subject)
			require.Equal(t, lti.RoleInstructor, l.Roles.Course)
			require.Equal(t, "https://lms.example.test/dl", l.DeepLinking.ReturnURL)
		}},
		{name: "booleans as strings (moodle before MDL-68384)", edit: func(c map[string]any) {
			c[ltiNS+"message_type"] = "LtiDeepLinkingRequest"
			c[dlNS] = map[string]any{"deep_link_return_url": "https://lms.example.test/dl",
				"accept_multiple": "false", "auto_create": "true"}
		}, check: func(t *testing.T, l *lti.Launch) {
			require.False(t, l.DeepLinking.AcceptMultiple)
			require.True(t, l.DeepLinking.AutoCreate)
		}},
		{name: "old moodle claim names", edit: func(c map[string]any) {
			c["https://purl.imsglobal.org/spec/lti-bos/claim/basicoutcomesservice"] = map[string]any{
				"lis_result_sourcedid": "sid", "lis_outcome_service_url": "https://lms.example.test/o"}
			c[ltiNS+"tool_platform"] = map[string]any{"family_code": "moodle"}
		}, check: func(t *testing.T, l *lti.Launch) {
			require.Equal(t, "sid", l.Outcome.SourcedID)
			require.Equal(t, "moodle", l.ToolPlatform.ProductFamilyCode)
		}},
		{name: "context type as short name", edit: func(c map[string]any) {
			c[ltiNS+"context"] = map[string]any{"id": "2", "type": []any{"CourseSection"}}
		}, check: func(t *testing.T, l *lti.Launch) {
			require.Equal(t, []string{"CourseSection"}, l.Context.Types)
		}},
		{name: "context type as uri", edit: func(c map[string]any) {
			c[ltiNS+"context"] = map[string]any{"id": "2",
				"type": []any{"http://purl.imsglobal.org/vocab/lis/v2/course#CourseSection"}}
		}, check: func(t *testing.T, l *lti.Launch) {
			require.Equal(t, []string{"CourseSection"}, l.Context.Types)
		}},
		{name: "teaching assistant, lti 1.3 spelling", edit: func(c map[string]any) {
			c[ltiNS+"roles"] = []any{"http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"}
		}, check: func(t *testing.T, l *lti.Launch) { require.Equal(t, lti.RoleInstructor, l.Roles.Course) }},
		{name: "teaching assistant, double hash spelling", edit: func(c map[string]any) {
			c[ltiNS+"roles"] = []any{"http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor#TeachingAssistant"}
		}, check: func(t *testing.T, l *lti.Launch) { require.Equal(t, lti.RoleInstructor, l.Roles.Course) }},
		{name: "learner sub-role stays a learner", edit: func(c map[string]any) {
			c[ltiNS+"roles"] = []any{"http://purl.imsglobal.org/vocab/lis/v2/membership/Learner#NonCreditLearner"}
		}, check: func(t *testing.T, l *lti.Launch) { require.Equal(t, lti.RoleLearner, l.Roles.Course) }},
		{name: "full lti 1.1 urns (blackboard)", edit: func(c map[string]any) {
			c[ltiNS+"roles"] = []any{"urn:lti:role:ims/lis/Instructor", "urn:lti:instrole:ims/lis/Faculty"}
		}, check: func(t *testing.T, l *lti.Launch) { require.Equal(t, lti.RoleInstructor, l.Roles.Course) }},
		{name: "open edx student", edit: func(c map[string]any) {
			c[ltiNS+"roles"] = []any{"http://purl.imsglobal.org/vocab/lis/v2/membership#Student"}
		}, check: func(t *testing.T, l *lti.Launch) { require.Equal(t, lti.RoleLearner, l.Roles.Course) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := newMinted(t)
			c := validClaims(m.clk.now())
			tt.edit(c)
			l, _, err := m.v.Verify(context.Background(), m.s.sign(t, c), testNonce)
			require.NoError(t, err)
			tt.check(t, l)
		})
	}
}
