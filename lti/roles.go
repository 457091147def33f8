package lti

import "strings"

// Role is a person's role in a course, ordered from least to most rights.
type Role int

// The course roles a launch can give.
const (
	RoleNone Role = iota
	RoleLearner
	RoleInstructor
	RoleAdministrator
)

// String returns the role's name.
func (r Role) String() string {
	switch r {
	case RoleLearner:
		return "learner"
	case RoleInstructor:
		return "instructor"
	case RoleAdministrator:
		return "administrator"
	}
	return "none"
}

// Roles is what a launch's role list means to Labhub.
type Roles struct {
	// Course is the highest course (membership) role.
	Course Role
	// SystemAdmin reports a platform-wide administrator role.
	SystemAdmin bool
	// InstitutionAdmin reports an institution administrator role.
	InstitutionAdmin bool
	// TestUser reports the LTI TestUser system role (a platform's "student
	// view" of a course).
	TestUser bool
}

// RoleMapping decides which membership roles count as instructor.
type RoleMapping struct {
	// Instructor lists the membership role names, case-insensitive, that
	// count as instructor; a name may also be given as a role URI. If empty,
	// Instructor, TeachingAssistant and ContentDeveloper count. When set, the
	// list replaces that default, so it should contain Instructor. Mentor is
	// a learner unless listed. The membership role Administrator is always a
	// course administrator.
	Instructor []string
}

var defaultInstructorRoles = []string{"instructor", "teachingassistant", "contentdeveloper"}

// knownMembership are the principal membership roles of LTI 1.1 and LIS v2,
// plus "student", which LTI 1.1 platforms send for Learner.
var knownMembership = map[string]bool{
	"administrator": true, "contentdeveloper": true, "instructor": true, "learner": true,
	"mentor": true, "manager": true, "member": true, "officer": true, "student": true,
	"teachingassistant": true,
}

type roleKind int

const (
	kindMembership roleKind = iota
	kindInstitution
	kindSystem
	kindLTISystem
)

// rolePrefixes map the role vocabularies, in lower case, to their kind.
var rolePrefixes = []struct {
	prefix string
	kind   roleKind
}{
	{"urn:lti:role:ims/lis/", kindMembership},
	{"urn:lti:instrole:ims/lis/", kindInstitution},
	{"urn:lti:sysrole:ims/lis/", kindSystem},
	{"http://purl.imsglobal.org/vocab/lis/v2/membership#", kindMembership},
	{"http://purl.imsglobal.org/vocab/lis/v2/membership/", kindMembership},
	{"http://purl.imsglobal.org/vocab/lis/v2/institution/person#", kindInstitution},
	{"http://purl.imsglobal.org/vocab/lis/v2/system/person#", kindSystem},
	{"http://purl.imsglobal.org/vocab/lti/system/person#", kindLTISystem},
}

// parseRole splits one role into its kind, principal role and sub-role, all
// in lower case. Sub-roles come as "…/membership/Instructor#TeachingAssistant"
// (LTI 1.3), "…/membership#Instructor#TeachingAssistant" (seen in the wild)
// or "urn:lti:role:ims/lis/Instructor/TeachingAssistant" (LTI 1.1).
func parseRole(s string) (kind roleKind, principal, sub string, ok bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if rest, found := strings.CutPrefix(s, "https://purl.imsglobal.org/"); found {
		s = "http://purl.imsglobal.org/" + rest
	}
	rest, matched := s, false
	for _, p := range rolePrefixes {
		if r, found := strings.CutPrefix(s, p.prefix); found {
			kind, rest, matched = p.kind, r, true
			break
		}
	}
	if !matched && strings.ContainsAny(s, ":/#") {
		return 0, "", "", false // some other vocabulary
	}
	principal, sub, hasSub := strings.Cut(rest, "#")
	if !hasSub && kind == kindMembership {
		principal, sub, hasSub = strings.Cut(rest, "/")
	}
	if !roleName(principal) || hasSub && (kind != kindMembership || !roleName(sub)) {
		return 0, "", "", false
	}
	return kind, principal, sub, true
}

func roleName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Parse interprets a launch's roles. An entry may hold an LTI 1.1
// comma-separated list. Unknown roles are ignored, and institution roles
// never give course rights: an institution's Instructor (faculty) is not the
// instructor of every course.
//
// A sub-role counts by its own name, so Instructor#TeachingAssistant counts
// as TeachingAssistant; a sub-role of a known membership role whose name is
// not listed as instructor makes the person a learner. LTI 1.3 asks platforms
// to send the principal role alongside a sub-role.
func (m RoleMapping) Parse(raw []string) Roles {
	instructor := m.instructorNames()
	var r Roles
	for _, entry := range raw {
		for _, role := range strings.Split(entry, ",") {
			kind, principal, sub, ok := parseRole(role)
			if !ok {
				continue
			}
			switch kind {
			case kindMembership:
				if !knownMembership[principal] {
					continue
				}
				name := principal
				if sub != "" {
					name = sub
				}
				course := RoleLearner
				switch {
				case principal == "administrator" && name == "administrator":
					course = RoleAdministrator
				case instructor[name]:
					course = RoleInstructor
				}
				r.Course = max(r.Course, course)
			case kindInstitution:
				r.InstitutionAdmin = r.InstitutionAdmin || principal == "administrator"
			case kindSystem:
				r.SystemAdmin = r.SystemAdmin || principal == "administrator" || principal == "sysadmin"
			case kindLTISystem:
				r.TestUser = r.TestUser || principal == "testuser"
			}
		}
	}
	return r
}

func (m RoleMapping) instructorNames() map[string]bool {
	names := m.Instructor
	if len(names) == 0 {
		names = defaultInstructorRoles
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		kind, principal, sub, ok := parseRole(n)
		if !ok || kind != kindMembership {
			continue
		}
		if sub != "" {
			principal = sub
		}
		set[principal] = true
	}
	return set
}
