package lti_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

const (
	membership  = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
	institution = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"
	system      = "http://purl.imsglobal.org/vocab/lis/v2/system/person#"
)

func TestRoleMappingParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mapping lti.RoleMapping
		raw     []string
		want    lti.Roles
	}{
		{name: "nothing", raw: nil, want: lti.Roles{}},
		{name: "short learner", raw: []string{"Learner"}, want: lti.Roles{Course: lti.RoleLearner}},
		{name: "short student", raw: []string{"Student"}, want: lti.Roles{Course: lti.RoleLearner}},
		{name: "short instructor any case", raw: []string{"iNsTrUcToR"},
			want: lti.Roles{Course: lti.RoleInstructor}},
		{name: "short teaching assistant", raw: []string{"TeachingAssistant"},
			want: lti.Roles{Course: lti.RoleInstructor}},
		{name: "short content developer", raw: []string{"ContentDeveloper"},
			want: lti.Roles{Course: lti.RoleInstructor}},
		{name: "short mentor is a learner", raw: []string{"Mentor"},
			want: lti.Roles{Course: lti.RoleLearner}},
		{name: "short member and manager are learners", raw: []string{"Member", "Manager"},
			want: lti.Roles{Course: lti.RoleLearner}},
		{name: "short administrator is course admin", raw: []string{"Administrator"},
			want: lti.Roles{Course: lti.RoleAdministrator}},
		{name: "lti 1.1 comma list with spaces", raw: []string{" Learner , Instructor "},
			want: lti.Roles{Course: lti.RoleInstructor}},
		{name: "highest membership wins", raw: []string{"Instructor", "Learner", "Mentor"},
			want: lti.Roles{Course: lti.RoleInstructor}},
		{name: "lti 1.1 urn", raw: []string{"urn:lti:role:ims/lis/Instructor"},
			want: lti.Roles{Course: lti.RoleInstructor}},
		{name: "lti 1.1 urn sub-role", raw: []string{"urn:lti:role:ims/lis/Instructor/TeachingAssistant"},
			want: lti.Roles{Course: lti.RoleInstructor}},
		{name: "lis v2 membership", raw: []string{membership + "Learner"},
			want: lti.Roles{Course: lti.RoleLearner}},
		{name: "https spelling of the namespace",
			raw:  []string{"https://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"},
			want: lti.Roles{Course: lti.RoleInstructor}},
		{name: "lis v2 sub-role, lti 1.3 spelling",
			raw:  []string{"http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"},
			want: lti.Roles{Course: lti.RoleInstructor}},
		{name: "lis v2 sub-role, double hash spelling",
			raw:  []string{membership + "Instructor#TeachingAssistant"},
			want: lti.Roles{Course: lti.RoleInstructor}},
		{name: "teaching assistant sub-role is not a full instructor when only Instructor counts",
			mapping: lti.RoleMapping{Instructor: []string{"Instructor"}},
			raw:     []string{"http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"},
			want:    lti.Roles{Course: lti.RoleLearner}},
		{name: "double hash sub-role is not a full instructor either",
			mapping: lti.RoleMapping{Instructor: []string{"Instructor"}},
			raw: []string{membership + "Instructor#TeachingAssistant",
				"urn:lti:role:ims/lis/Instructor/TeachingAssistant"},
			want: lti.Roles{Course: lti.RoleLearner}},
		{name: "unlisted sub-role of instructor is a learner",
			raw:  []string{membership + "Instructor#Lecturer"},
			want: lti.Roles{Course: lti.RoleLearner}},
		{name: "listed sub-role counts",
			mapping: lti.RoleMapping{Instructor: []string{"instructor", "Lecturer"}},
			raw:     []string{membership + "Instructor#Lecturer"}, want: lti.Roles{Course: lti.RoleInstructor}},
		{name: "mentor listed as instructor",
			mapping: lti.RoleMapping{Instructor: []string{"Instructor", membership + "Mentor"}},
			raw:     []string{"Mentor"}, want: lti.Roles{Course: lti.RoleInstructor}},
		{name: "mapping without ta makes ta a learner",
			mapping: lti.RoleMapping{Instructor: []string{"Instructor"}},
			raw:     []string{"TeachingAssistant"}, want: lti.Roles{Course: lti.RoleLearner}},
		{name: "administrator stays course admin whatever the mapping",
			mapping: lti.RoleMapping{Instructor: []string{"Instructor"}},
			raw:     []string{membership + "Administrator"}, want: lti.Roles{Course: lti.RoleAdministrator}},
		{name: "administrator sub-role named administrator",
			raw:  []string{membership + "Administrator#Administrator"},
			want: lti.Roles{Course: lti.RoleAdministrator}},
		{name: "other administrator sub-role is a learner",
			raw:  []string{membership + "Administrator#Support"},
			want: lti.Roles{Course: lti.RoleLearner}},
		{name: "instructor sub-role named administrator is not admin",
			raw:  []string{membership + "Instructor#Administrator"},
			want: lti.Roles{Course: lti.RoleLearner}},
		{name: "moodle admin in lti 1.3",
			raw: []string{institution + "Administrator", membership + "Instructor",
				system + "Administrator"},
			want: lti.Roles{Course: lti.RoleInstructor, SystemAdmin: true, InstitutionAdmin: true}},
		{name: "moodle admin in lti 1.1",
			raw:  []string{"Instructor,urn:lti:sysrole:ims/lis/Administrator,urn:lti:instrole:ims/lis/Administrator"},
			want: lti.Roles{Course: lti.RoleInstructor, SystemAdmin: true, InstitutionAdmin: true}},
		{name: "blackboard urns",
			raw: []string{"urn:lti:role:ims/lis/Learner", "urn:lti:instrole:ims/lis/Student",
				"urn:lti:sysrole:ims/lis/User"},
			want: lti.Roles{Course: lti.RoleLearner}},
		{name: "blackboard sysadmin",
			raw: []string{"urn:lti:role:ims/lis/Instructor", "urn:lti:sysrole:ims/lis/SysAdmin",
				"urn:lti:instrole:ims/lis/Faculty"},
			want: lti.Roles{Course: lti.RoleInstructor, SystemAdmin: true}},
		{name: "lis v2 sysadmin", raw: []string{system + "SysAdmin"}, want: lti.Roles{SystemAdmin: true}},
		{name: "institution instructor never teaches the course",
			raw:  []string{"urn:lti:instrole:ims/lis/Instructor"},
			want: lti.Roles{}},
		{name: "institution faculty never teaches the course",
			raw:  []string{institution + "Faculty", institution + "Instructor"},
			want: lti.Roles{}},
		{name: "institution administrator alone", raw: []string{institution + "Administrator"},
			want: lti.Roles{InstitutionAdmin: true}},
		{name: "test user",
			raw: []string{"http://purl.imsglobal.org/vocab/lti/system/person#TestUser",
				membership + "Learner"},
			want: lti.Roles{Course: lti.RoleLearner, TestUser: true}},
		{name: "unknown roles ignored",
			raw: []string{"Guest", membership + "Visitor", "urn:lti:role:ims/lis/Nobody",
				"urn:lti:sysrole:ims/lis/Creator",
				institution + "Guest"},
			want: lti.Roles{}},
		{name: "hostile spellings ignored",
			raw: []string{"", ",,", "urn:lti:role:ims/lis/", membership, membership + "#Instructor",
				membership + "Instructor#TeachingAssistant#Extra", "http://evil.test/membership#Instructor",
				"urn:lti:role:ims/lis/Instructor/", "urn:lti:instrole:ims/lis/Administrator/X", "Instructor#x",
				"Instruct or", "Ins\x00tructor", membership + "Inst%72uctor",
				system + "Administrator#Administrator",
			},
			want: lti.Roles{}},
		{name: "membership path without a sub-role",
			raw:  []string{"http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor"},
			want: lti.Roles{Course: lti.RoleInstructor}},
		{name: "sub-role under an unknown principal ignored",
			raw:  []string{"http://purl.imsglobal.org/vocab/lis/v2/membership/Nobody#Instructor"},
			want: lti.Roles{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.mapping.Parse(tt.raw))
		})
	}
}

func TestRoleString(t *testing.T) {
	t.Parallel()
	for r, want := range map[lti.Role]string{lti.RoleNone: "none", lti.RoleLearner: "learner",
		lti.RoleInstructor: "instructor", lti.RoleAdministrator: "administrator", lti.Role(42): "none"} {
		require.Equal(t, want, r.String())
	}
	require.Less(t, lti.RoleLearner, lti.RoleInstructor)
	require.Less(t, lti.RoleInstructor, lti.RoleAdministrator)
}
