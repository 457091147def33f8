package lms

import (
	"crypto/rand"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// LIS v2 role URIs the platform uses. Moodle only ever sends these three
// kinds: Learner, Instructor, and for site administrators the two
// Administrator roles.
const (
	RoleLearner    = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
	RoleInstructor = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
	RoleSysAdmin   = "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"
	RoleInstAdmin  = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"
	// RolePersonAdmin is the form Moodle's membership service uses for
	// administrators.
	RolePersonAdmin = "http://purl.imsglobal.org/vocab/lis/v2/person#Administrator"
)

// Service scopes the token endpoint grants.
const (
	ScopeLineItem         = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
	ScopeLineItemReadOnly = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
	ScopeResultReadOnly   = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
	ScopeScore            = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
	ScopeMemberships      = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
)

// agsScopes is the order in which Moodle lists the AGS scopes in a launch.
var agsScopes = []string{ScopeLineItem, ScopeLineItemReadOnly, ScopeResultReadOnly, ScopeScore}

// Tool is a tool registration, the fields an administrator fills in when
// adding an external tool to Moodle.
type Tool struct {
	// ClientID identifies the tool in LTI 1.3. Moodle generates 15 random
	// characters; NewClientID does the same.
	ClientID string
	// DeploymentID is Moodle's tool type id, e.g. "1". It is also the
	// ?type_id of every service URL. If empty, AddTool assigns the next free
	// number.
	DeploymentID string
	// LoginURL is the "Initiate login URL" the login initiation is posted to.
	LoginURL string
	// RedirectURIs are the "Redirection URI(s)". The auth endpoint accepts a
	// redirect_uri only when it equals one of them exactly.
	RedirectURIs []string
	// TargetLinkURI is the "Tool URL", sent as target_link_uri.
	TargetLinkURI string
	// JWKSURL is the tool's "Public keyset", used to verify the client
	// assertions at the token endpoint.
	JWKSURL string
	// LTI11LaunchURL, ConsumerKey and SharedSecret are the LTI 1.1
	// registration; they may be empty for an LTI 1.3-only tool.
	LTI11LaunchURL string
	ConsumerKey    string
	SharedSecret   string
	// DeepLinkingURL is the "Content Selection URL", the target_link_uri of
	// deep linking requests. If empty, TargetLinkURI is used.
	DeepLinkingURL string
	// Pending marks a tool that dynamic registration created and no
	// administrator activated yet: Moodle lists it under "Pending" and
	// launches nothing with it.
	Pending bool
	// HideName and HideEmail stop the launcher's name (and username) and
	// email from being shared: Moodle's "Share launcher's name/email with
	// tool" set to Never.
	HideName, HideEmail bool
}

// User is a platform account. ID is Moodle's numeric user id as a string; it
// becomes sub, login_hint and user_id.
type User struct {
	ID, Username, GivenName, FamilyName, Email string
	// Roles are LIS v2 role URIs (RoleLearner, RoleInstructor, ...). If
	// empty, the user is a Learner.
	Roles []string
}

// Course is an LTI context. ID is Moodle's course id and appears in service
// URLs, so it should be a short token such as "2".
type Course struct {
	ID, Label, Title string
	// Deployment, if set, is the deployment id launches from this course
	// carry instead of the tool's: Blackboard registers one client id for
	// all institutions, each institution being a deployment.
	Deployment string
}

// Link is a resource link: an LTI activity in a course.
type Link struct {
	// ID is the activity's instance id, sent as resource_link.id.
	ID    string
	Title string
	// Custom holds the activity's custom parameters. A value that is exactly
	// a supported substitution variable, such as $User.username, is replaced
	// the way Moodle does.
	Custom map[string]string
	// LineItem reports whether the activity has a gradebook column. Only then
	// are the lineitem claim and the basic outcome parameters sent.
	LineItem bool
	// ScoreMaximum is the column's maximum grade; zero means 100.
	ScoreMaximum float64
}

// NewClientID returns a random client id in Moodle's form: 15 letters and
// digits.
func NewClientID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	return randomString(15, alphabet)
}

// randomString returns n characters drawn uniformly from alphabet.
func randomString(n int, alphabet string) string {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < n {
		if _, err := rand.Read(buf); err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		// Rejecting the top of the byte range keeps the choice uniform.
		if int(buf[0]) >= 256-256%len(alphabet) {
			continue
		}
		b.WriteByte(alphabet[int(buf[0])%len(alphabet)])
	}
	return b.String()
}

// AddTool registers t. A tool with the same ClientID or ConsumerKey as an
// existing one replaces it.
func (p *Platform) AddTool(t Tool) {
	t.RedirectURIs = slices.Clone(t.RedirectURIs)
	p.mu.Lock()
	defer p.mu.Unlock()
	if t.DeploymentID == "" {
		p.nextTypeID++
		t.DeploymentID = strconv.Itoa(p.nextTypeID)
	} else if n, err := strconv.Atoi(t.DeploymentID); err == nil && n > p.nextTypeID {
		p.nextTypeID = n
	}
	p.tools = slices.DeleteFunc(p.tools, func(old *Tool) bool {
		return (t.ClientID != "" && old.ClientID == t.ClientID) ||
			(t.ConsumerKey != "" && old.ConsumerKey == t.ConsumerKey)
	})
	p.tools = append(p.tools, &t)
}

// Tool returns the registration whose ClientID or ConsumerKey is
// clientOrKey.
func (p *Platform) Tool(clientOrKey string) (Tool, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.toolLocked(clientOrKey)
	if t == nil {
		return Tool{}, false
	}
	return *t, true
}

// toolLocked finds a tool by client id or consumer key.
func (p *Platform) toolLocked(clientOrKey string) *Tool {
	if clientOrKey == "" {
		return nil
	}
	for _, t := range p.tools {
		if t.ClientID == clientOrKey || t.ConsumerKey == clientOrKey {
			return t
		}
	}
	return nil
}

// toolByTypeLocked finds a tool by its type id (deployment id).
func (p *Platform) toolByTypeLocked(typeID string) *Tool {
	for _, t := range p.tools {
		if t.DeploymentID == typeID {
			return t
		}
	}
	return nil
}

// member is a user's enrolment in a course.
type member struct {
	user  User
	roles []string
}

// courseState is what the platform knows about a course.
type courseState struct {
	course  Course
	members []*member // enrolment order, which is the NRPS order
}

// AddMember enrols u in c with roles (LIS v2 URIs). If roles is empty, u.Roles
// is used, and if that is empty too, the user is a Learner. Enrolling again
// replaces the roles.
func (p *Platform) AddMember(c Course, u User, roles []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.enrolLocked(c, u, roles)
}

// enrolLocked records c and enrols u in it, keeping an existing enrolment's
// position.
func (p *Platform) enrolLocked(c Course, u User, roles []string) {
	if len(roles) == 0 {
		roles = userRoles(u)
	}
	cs := p.courseLocked(c)
	for _, m := range cs.members {
		if m.user.ID == u.ID {
			m.user, m.roles = u, slices.Clone(roles)
			return
		}
	}
	cs.members = append(cs.members, &member{user: u, roles: slices.Clone(roles)})
}

// courseLocked returns the state of c, creating it and updating its names.
func (p *Platform) courseLocked(c Course) *courseState {
	cs := p.courses[c.ID]
	if cs == nil {
		cs = &courseState{}
		p.courses[c.ID] = cs
	}
	cs.course = c
	return cs
}

// memberLocked returns the enrolment of userID in courseID, or nil.
func (p *Platform) memberLocked(courseID, userID string) *member {
	cs := p.courses[courseID]
	if cs == nil {
		return nil
	}
	for _, m := range cs.members {
		if m.user.ID == userID {
			return m
		}
	}
	return nil
}

// userRoles returns u's roles, defaulting to Learner.
func userRoles(u User) []string {
	if len(u.Roles) == 0 {
		return []string{RoleLearner}
	}
	return u.Roles
}

// isAdmin reports whether roles hold one of the administrator roles.
func isAdmin(roles []string) bool {
	return slices.Contains(roles, RoleSysAdmin) || slices.Contains(roles, RoleInstAdmin) ||
		slices.Contains(roles, RolePersonAdmin)
}

// isInstructor reports whether roles make the user an Instructor in Moodle's
// sense (the mod/lti:manage capability).
func isInstructor(roles []string) bool {
	return slices.Contains(roles, RoleInstructor)
}

// gradable reports whether Moodle would accept grades for a member: the user
// must be enrolled with a gradebook (student) role. Instructors are not.
func gradable(m *member) bool {
	return m != nil && slices.Contains(m.roles, RoleLearner) && !isInstructor(m.roles)
}

// linkKey identifies an activity of a tool in a course.
type linkKey struct{ course, link, typeID string }

// linkState is what the platform keeps for an activity: its course module
// id, the secret behind its sourcedids, and its gradebook column.
type linkState struct {
	link       Link
	cmid       int
	salt       string
	lineItemID int // 0 when the activity has no gradebook column
}

// linkLocked returns the state of l for tool t in c, registering it (and its
// line item when l.LineItem is set) on first use.
func (p *Platform) linkLocked(c Course, l Link, t *Tool) *linkState {
	key := linkKey{c.ID, l.ID, t.DeploymentID}
	ls := p.links[key]
	if ls == nil {
		p.nextCMID++
		ls = &linkState{cmid: p.nextCMID, salt: randomString(16, hexDigits)}
		p.links[key] = ls
	}
	ls.link = l
	ls.link.Custom = maps.Clone(l.Custom) // the caller may reuse its map
	if l.LineItem && ls.lineItemID == 0 {
		max := l.ScoreMaximum
		if max <= 0 {
			max = defaultGradeMax
		}
		ls.lineItemID = p.addLineItemLocked(&lineItem{
			courseID:  c.ID,
			typeID:    t.DeploymentID,
			label:     l.Title,
			max:       max,
			linkID:    l.ID,
			coupled:   true,
			hasLinkID: true,
		})
	}
	return ls
}

const hexDigits = "0123456789abcdef"
