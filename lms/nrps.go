package lms

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const mtMembershipContainer = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"

// handleMemberships is the Names and Role Provisioning Service, in its
// LTI 1.3 (NRPS 2.0) form:
// GET /mod/lti/services.php/CourseSection/<course>/bindings/<typeid>/memberships
// with optional role, limit, from and rlid parameters. Pages are linked with
// a standard Link: <...>; rel="next" header.
func (p *Platform) handleMemberships(w http.ResponseWriter, r *http.Request) {
	courseID, typeID := r.PathValue("course"), r.PathValue("type")
	q := r.URL.Query()
	role := q.Get("role")
	limit, _ := strconv.Atoi(q.Get("limit"))
	from, _ := strconv.Atoi(q.Get("from"))
	if limit <= 0 {
		limit, from = 0, 0
	}
	rlid := q.Get("rlid")

	p.mu.Lock()
	defer p.mu.Unlock()
	cs := p.courses[courseID]
	t := p.toolByTypeLocked(typeID)
	var ls *linkState
	if rlid != "" {
		ls = p.links[linkKey{courseID, rlid, typeID}]
	}
	if cs == nil || t == nil || rlid != "" && ls == nil {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	if !p.bearerLocked(r, typeID, ScopeMemberships) {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	// A role filter may be a short name or a URI; Moodle understands
	// Instructor and Learner and lists everyone for any other role.
	if role != "" && !strings.HasPrefix(role, "http://") && !strings.HasPrefix(role, "https://") {
		role = "http://purl.imsglobal.org/vocab/lis/v2/membership#" + role
	}
	// TODO: Moodle answers a request that accepts only
	// application/vnd.ims.lis.v2.membershipcontainer+json with the older
	// JSON-LD format; this platform always answers in the NRPS 2.0 format.
	endpoint := p.membershipsURLLocked(courseID, typeID)
	var members []jsonObject
	n, more := 0, false
	for _, m := range cs.members {
		if role == RoleInstructor && !isInstructor(m.roles) || role == RoleLearner && isInstructor(m.roles) {
			continue
		}
		n++
		if limit > 0 {
			if n <= from {
				continue
			}
			if len(members) >= limit {
				more = true
				break
			}
		}
		members = append(members, p.memberJSONLocked(m, t, ls, courseID))
	}
	if more {
		next := endpoint + "?limit=" + strconv.Itoa(limit) + "&from=" + strconv.Itoa(from+limit)
		if rlid != "" {
			next += "&rlid=" + url.QueryEscape(rlid)
		}
		w.Header().Set("Link", "<"+next+`>; rel="next"`)
	}
	if members == nil {
		members = []jsonObject{}
	}
	c := cs.course
	writeJSONType(w, http.StatusOK, mtMembershipContainer, jsonObject{
		{"id", endpoint},
		{"context", jsonObject{{"id", c.ID}, {"label", c.Label}, {"title", c.Title}}},
		{"members", members},
	})
}

// memberJSONLocked is Moodle's NRPS member object.
func (p *Platform) memberJSONLocked(m *member, t *Tool, ls *linkState, courseID string) jsonObject {
	u := m.user
	roles := nrpsRoles(m.roles)
	if p.roleURNs {
		// Blackboard writes full URNs here as in its launches.
		roles = nil
		for _, r := range sortedRoles(User{Roles: m.roles}) {
			roles = append(roles, roleURN(r))
		}
	}
	o := jsonObject{{"status", "Active"}, {"roles", roles}}
	if ls != nil {
		msg := jsonObject{{ClaimMessageType, "LtiResourceLinkRequest"}}
		if ls.lineItemID != 0 {
			l := launch{user: u, link: ls.link, tool: t, state: ls, launchID: randomLaunchID()}
			msg = append(msg, jsonMember{ClaimBasicOutcome, jsonObject{
				{"lis_result_sourcedid", p.sourcedIDLocked(l)},
				{"lis_outcome_service_url", p.endpointLocked(outcomesPath)},
			}})
		}
		o = append(o, jsonMember{"message", []jsonObject{msg}})
	}
	return append(o,
		jsonMember{"user_id", u.ID},
		jsonMember{"lis_person_sourcedid", ""},
		jsonMember{"name", fullName(u)},
		jsonMember{"given_name", u.GivenName},
		jsonMember{"family_name", u.FamilyName},
		jsonMember{"email", u.Email},
	)
}

// nrpsRoles is how Moodle's membership service writes roles: the short
// context role (Instructor or Learner), and for administrators the LIS v2
// person#Administrator URI instead of Learner. A tool therefore has to read
// both short names and URIs.
func nrpsRoles(roles []string) []string {
	var out []string
	if isInstructor(roles) {
		out = append(out, "Instructor")
	} else if !isAdmin(roles) {
		out = append(out, "Learner")
	}
	if isAdmin(roles) {
		out = append(out, RolePersonAdmin)
	}
	return out
}
