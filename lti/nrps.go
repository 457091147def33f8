package lti

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// MediaTypeMemberships is the media type of an NRPS 2.0 membership
// container.
const MediaTypeMemberships = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"

// maxMembershipPageBytes bounds one membership page.
const maxMembershipPageBytes = 16 << 20

// Member is one member of a course as the Names and Role Provisioning
// Service lists it.
type Member struct {
	// UserID is the platform's id of the person: the sub of their launches.
	UserID string
	// Status is Active, Inactive or Deleted; "" counts as Active.
	Status string
	// Name, GivenName, FamilyName and Email are shared at the platform's
	// discretion.
	Name, GivenName, FamilyName, Email string
	// RawRoles are the roles as sent: short names ("Instructor", Moodle) or
	// role URIs, whichever the platform uses.
	RawRoles []string

	raw map[string]any
}

// Active reports whether the member is currently in the course.
func (m Member) Active() bool {
	return m.Status == "" || strings.EqualFold(m.Status, "Active")
}

// Launch returns the member as a launch would describe the same person, so
// that the rules that name people at launches can name members: subject,
// name, email, roles read with roles, and the claims of the member's first
// message (NRPS with rlid) for username claims such as ext.user_username.
func (m Member) Launch(roles RoleMapping) *Launch {
	raw := make(map[string]any, len(m.raw)+1)
	if msgs, ok := m.raw["message"].([]any); ok && len(msgs) > 0 {
		if first, ok := msgs[0].(map[string]any); ok {
			for k, v := range first {
				raw[k] = v
			}
		}
	}
	for k, v := range m.raw {
		if k != "message" {
			raw[k] = v
		}
	}
	raw["sub"] = m.UserID
	l := &Launch{
		Version: "1.3", MessageType: MessageResourceLink, Subject: m.UserID,
		Name: m.Name, GivenName: m.GivenName, FamilyName: m.FamilyName, Email: m.Email,
		RawRoles: m.RawRoles, Roles: roles.Parse(m.RawRoles), raw: raw,
	}
	l.Username = l.findUsername()
	return l
}

// MembershipPage is one page of an NRPS membership container.
type MembershipPage struct {
	// Context is the course the memberships are of.
	Context Context
	// Members are the members on this page; entries without user_id are
	// left out.
	Members []Member
	// Next is the absolute URL of the next page, "" on the last page.
	Next string
}

// ParseMemberships reads one page of an NRPS response: the membership
// container body and the Link header of the response to pageURL, whose
// rel="next" link names the next page.
func ParseMemberships(body []byte, link, pageURL string) (*MembershipPage, error) {
	if len(body) > maxMembershipPageBytes {
		return nil, fmt.Errorf("membership page is larger than %d bytes", maxMembershipPageBytes)
	}
	m, err := decodeObject(body)
	if err != nil {
		return nil, fmt.Errorf("membership page is not a JSON object: %w", err)
	}
	list, ok := m["members"].([]any)
	if !ok {
		return nil, errors.New("membership page has no members array")
	}
	page := &MembershipPage{}
	if ctx := obj(m, "context"); ctx != nil {
		page.Context = Context{ID: str(ctx, "id"), Label: str(ctx, "label"), Title: str(ctx, "title")}
	}
	for _, e := range list {
		o, ok := e.(map[string]any)
		if !ok {
			continue
		}
		mem := Member{
			UserID: str(o, "user_id"), Status: str(o, "status"),
			Name: str(o, "name"), GivenName: str(o, "given_name"), FamilyName: str(o, "family_name"),
			Email: str(o, "email"), RawRoles: strs(o, "roles"), raw: o,
		}
		if mem.UserID == "" {
			continue
		}
		page.Members = append(page.Members, mem)
	}
	if next := linkRel(link, "next"); next != "" {
		base, err := url.Parse(pageURL)
		if err != nil {
			return nil, fmt.Errorf("membership page url: %w", err)
		}
		u, err := base.Parse(next)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("membership page: next link %s is not an http(s) URL", quote(next))
		}
		page.Next = u.String()
	}
	return page, nil
}

// linkRel returns the target of the first link with relation rel in an RFC
// 8288 Link header, or "".
func linkRel(header, rel string) string {
	for len(header) > 0 {
		header = strings.TrimLeft(header, " ,")
		if !strings.HasPrefix(header, "<") {
			return ""
		}
		end := strings.IndexByte(header, '>')
		if end < 0 {
			return ""
		}
		target := header[1:end]
		header = header[end+1:]
		// Parameters run to the next comma outside quotes.
		params, rest := header, ""
		inQuote := false
		for i := 0; i < len(header); i++ {
			switch header[i] {
			case '"':
				inQuote = !inQuote
			case ',':
				if !inQuote {
					params, rest = header[:i], header[i+1:]
					i = len(header)
				}
			}
		}
		header = rest
		for _, p := range strings.Split(params, ";") {
			name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
				continue
			}
			for _, r := range strings.Fields(strings.Trim(strings.TrimSpace(value), `"`)) {
				if strings.EqualFold(r, rel) {
					return target
				}
			}
		}
	}
	return ""
}
