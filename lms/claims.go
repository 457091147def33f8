package lms

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Claim names of LTI 1.3 launches.
const (
	claimPrefix       = "https://purl.imsglobal.org/spec/lti/claim/"
	ClaimMessageType  = claimPrefix + "message_type"
	ClaimVersion      = claimPrefix + "version"
	ClaimDeploymentID = claimPrefix + "deployment_id"
	ClaimTargetLink   = claimPrefix + "target_link_uri"
	ClaimResourceLink = claimPrefix + "resource_link"
	ClaimRoles        = claimPrefix + "roles"
	ClaimContext      = claimPrefix + "context"
	ClaimCustom       = claimPrefix + "custom"
	ClaimLIS          = claimPrefix + "lis"
	ClaimExt          = claimPrefix + "ext"
	ClaimPresentation = claimPrefix + "launch_presentation"
	ClaimToolPlatform = claimPrefix + "tool_platform"
	ClaimAGS          = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
	ClaimNRPS         = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
	ClaimBasicOutcome = "https://purl.imsglobal.org/spec/lti-bo/claim/basicoutcome"
)

// jsonObject is a JSON object that keeps its member order, so that tokens
// list their claims in the order Moodle writes them.
type jsonObject []jsonMember

type jsonMember struct {
	key   string
	value any
}

// MarshalJSON writes the members in order.
func (o jsonObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshalJSON(m.key)
		if err != nil {
			return nil, err
		}
		v, err := marshalJSON(m.value)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", m.key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// toMap converts o, and the objects nested in it, to plain maps.
func (o jsonObject) toMap() map[string]any {
	m := make(map[string]any, len(o))
	for _, mem := range o {
		if sub, ok := mem.value.(jsonObject); ok {
			m[mem.key] = sub.toMap()
		} else {
			m[mem.key] = mem.value
		}
	}
	return m
}

// marshalJSON encodes v like PHP's json_encode with unescaped slashes: no
// HTML escaping of <, > and &, and no trailing newline.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// launch is everything one launch message is built from.
type launch struct {
	user     User
	course   Course
	link     Link
	tool     *Tool
	state    *linkState // nil for a deep linking request
	sesskey  string
	launchID int64
	// deepLinking marks a deep linking request: no link, a return URL.
	deepLinking bool
	// embedded marks a launch shown inside the course page (an iframe).
	embedded bool
}

// launchClaimsLocked builds the id_token payload of a resource link launch,
// or of a deep linking request, with Moodle's claim set and order.
func (p *Platform) launchClaimsLocked(l launch, nonce string) jsonObject {
	now := p.now()
	c := l.course
	target, messageType := l.tool.TargetLinkURI, "LtiResourceLinkRequest"
	if l.deepLinking {
		messageType = "LtiDeepLinkingRequest"
		if l.tool.DeepLinkingURL != "" {
			target = l.tool.DeepLinkingURL
		}
	}
	o := jsonObject{
		{"nonce", nonce},
		{"iat", now.Unix()},
		{"exp", now.Add(p.tokenLifetime).Unix()},
		{"iss", p.tokenIssuerLocked()},
		// Moodle sends aud as a string, never as an array, and no azp.
		{"aud", l.tool.ClientID},
		{ClaimDeploymentID, deploymentOf(l.tool, c)},
		{ClaimTargetLink, target},
		{"sub", l.user.ID},
		{ClaimLIS, jsonObject{{"person_sourcedid", ""}, {"course_section_sourcedid", ""}}},
		{ClaimRoles, p.launchRolesLocked(l.user)},
		{ClaimContext, jsonObject{
			{"id", c.ID}, {"label", c.Label}, {"title", c.Title},
			{"type", []string{"CourseSection"}},
		}},
		{ClaimMessageType, messageType},
	}
	if !l.deepLinking {
		o = append(o, jsonMember{ClaimResourceLink,
			jsonObject{{"title", l.link.Title}, {"description", ""}, {"id", l.link.ID}}})
		if l.state.lineItemID != 0 {
			o = append(o, jsonMember{ClaimBasicOutcome, jsonObject{
				{"lis_result_sourcedid", p.sourcedIDLocked(l)},
				{"lis_outcome_service_url", p.endpointLocked(outcomesPath)},
			}})
		}
	}
	if !l.tool.HideName {
		o = append(o,
			jsonMember{"given_name", l.user.GivenName},
			jsonMember{"family_name", l.user.FamilyName},
			jsonMember{"name", fullName(l.user)},
			jsonMember{ClaimExt, jsonObject{{"user_username", l.user.Username}, {"lms", extLMS}}})
	} else {
		o = append(o, jsonMember{ClaimExt, jsonObject{{"lms", extLMS}}})
	}
	if !l.tool.HideEmail {
		o = append(o, jsonMember{"email", l.user.Email})
	}
	presentation := jsonObject{{"locale", "en"}}
	if !l.deepLinking {
		target := "window"
		if l.embedded {
			target = "iframe"
		}
		presentation = append(presentation, jsonMember{"document_target", target},
			jsonMember{"return_url", p.returnURLLocked(l)})
	}
	o = append(o,
		jsonMember{ClaimPresentation, presentation},
		jsonMember{ClaimToolPlatform, jsonObject{
			{"product_family_code", productFamily},
			{"version", moodleVersion},
			{"guid", p.siteGUIDLocked()},
			{"name", siteName},
			{"description", siteDescription},
		}},
		jsonMember{ClaimVersion, "1.3.0"},
	)
	if custom := p.customLocked(l, true); len(custom) > 0 {
		o = append(o, jsonMember{ClaimCustom, custom})
	}
	ags := jsonObject{
		{"scope", slices.Clone(agsScopes)},
		{"lineitems", p.lineItemsURLLocked(c.ID, l.tool.DeploymentID)},
	}
	if l.state != nil && l.state.lineItemID != 0 {
		item := p.lineItemURLLocked(c.ID, l.state.lineItemID, l.tool.DeploymentID)
		ags = append(ags, jsonMember{"lineitem", item})
	}
	o = append(o,
		jsonMember{ClaimAGS, ags},
		jsonMember{ClaimNRPS, jsonObject{
			{"context_memberships_url", p.membershipsURLLocked(c.ID, l.tool.DeploymentID)},
			{"service_versions", []string{"1.0", "2.0"}},
		}},
	)
	if l.deepLinking {
		// Moodle accepts resource links only and sends its booleans as
		// JSON booleans since MDL-68384.
		o = append(o, jsonMember{ClaimDeepLinking, jsonObject{
			{"accept_types", []string{"ltiResourceLink"}},
			{"accept_presentation_document_targets", []string{"frame", "iframe", "window"}},
			{"accept_copy_advice", false},
			{"accept_multiple", true},
			{"accept_unsigned", false},
			{"auto_create", false},
			{"can_confirm", false},
			{"deep_link_return_url", p.deepLinkReturnURLLocked(l)},
			{"title", ""},
			{"text", ""},
		}})
	}
	return o
}

// ClaimDeepLinking is the deep linking settings claim.
const ClaimDeepLinking = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"

// launchRolesLocked returns the user's roles as this platform writes them:
// LIS v2 URIs sorted (Moodle), or LTI 1.1 URNs (Blackboard).
func (p *Platform) launchRolesLocked(u User) []string {
	roles := sortedRoles(u)
	if !p.roleURNs {
		return roles
	}
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		out = append(out, roleURN(r))
	}
	return out
}

// roleURN maps a LIS v2 role URI to its LTI 1.1 URN.
func roleURN(r string) string {
	switch {
	case strings.HasPrefix(r, "http://purl.imsglobal.org/vocab/lis/v2/membership#"):
		return "urn:lti:role:ims/lis/" + strings.TrimPrefix(r, "http://purl.imsglobal.org/vocab/lis/v2/membership#")
	case strings.HasPrefix(r, "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"):
		return "urn:lti:instrole:ims/lis/" + strings.TrimPrefix(r, "http://purl.imsglobal.org/vocab/lis/v2/institution/person#")
	case strings.HasPrefix(r, "http://purl.imsglobal.org/vocab/lis/v2/system/person#"):
		return "urn:lti:sysrole:ims/lis/" + strings.TrimPrefix(r, "http://purl.imsglobal.org/vocab/lis/v2/system/person#")
	}
	return r
}

// LaunchClaims returns the claims of a valid id_token for u launching l in c
// through the tool with client id client, as the auth endpoint would issue
// them for nonce. Tests change them and sign the result with IDToken. Like a
// real launch it enrols u in c and registers l.
func (p *Platform) LaunchClaims(u User, c Course, l Link, client, nonce string) (map[string]any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.toolLocked(client)
	if t == nil || t.ClientID != client {
		return nil, fmt.Errorf("build launch claims: no tool with client id %q", client)
	}
	p.enrolLocked(c, u, nil)
	st := p.linkLocked(c, l, t)
	lc := launch{
		user: u, course: c, link: st.link, tool: t, state: st,
		sesskey:  randomString(10, hexDigits),
		launchID: randomLaunchID(),
	}
	return p.launchClaimsLocked(lc, nonce).toMap(), nil
}

// DeepLinkingClaims returns the claims of a valid deep linking request by u
// in c through the tool with client id client, for nonce.
func (p *Platform) DeepLinkingClaims(u User, c Course, client, nonce string) (map[string]any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.toolLocked(client)
	if t == nil || t.ClientID != client {
		return nil, fmt.Errorf("build deep linking claims: no tool with client id %q", client)
	}
	p.enrolLocked(c, u, nil)
	lc := launch{user: u, course: c, tool: t, deepLinking: true, sesskey: randomString(10, hexDigits)}
	return p.launchClaimsLocked(lc, nonce).toMap(), nil
}

// deepLinkReturnURLLocked is Moodle's deep_link_return_url.
func (p *Platform) deepLinkReturnURLLocked(l launch) string {
	return p.endpointLocked(contentItemReturnPath) +
		"?course=" + url.QueryEscape(l.course.ID) +
		"&id=" + url.QueryEscape(l.tool.DeploymentID) +
		"&sesskey=" + url.QueryEscape(l.sesskey)
}

// sortedRoles returns the user's LTI 1.3 roles sorted, as Moodle sends them.
func sortedRoles(u User) []string {
	r := slices.Clone(userRoles(u))
	slices.Sort(r)
	return r
}

func fullName(u User) string {
	return strings.TrimSpace(u.GivenName + " " + u.FamilyName)
}

// sourcedData is the data part of Moodle's lis_result_sourcedid.
type sourcedData struct {
	InstanceID string `json:"instanceid"`
	UserID     string `json:"userid"`
	TypeID     string `json:"typeid"`
	LaunchID   int64  `json:"launchid"`
}

// sourcedEnvelope is Moodle's lis_result_sourcedid: data plus a SHA-256 over
// the data's JSON and the activity's secret salt.
type sourcedEnvelope struct {
	Data sourcedData `json:"data"`
	Hash string      `json:"hash"`
}

func (p *Platform) sourcedIDLocked(l launch) string {
	d := sourcedData{
		InstanceID: l.link.ID, UserID: l.user.ID,
		TypeID: l.tool.DeploymentID, LaunchID: l.launchID,
	}
	b, err := marshalJSON(sourcedEnvelope{Data: d, Hash: sourcedHash(d, l.state.salt)})
	if err != nil {
		panic(fmt.Sprintf("encode sourcedid: %v", err)) // strings and an int always encode
	}
	return string(b)
}

// sourcedHash is the hash Moodle puts next to the sourcedid data.
func sourcedHash(d sourcedData, salt string) string {
	b, err := marshalJSON(d)
	if err != nil {
		panic(fmt.Sprintf("encode sourcedid data: %v", err))
	}
	sum := sha256.Sum256(append(b, salt...))
	return hex.EncodeToString(sum[:])
}

// randomLaunchID is Moodle's launchid: mt_rand(), a non-negative 31-bit int.
func randomLaunchID() int64 {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return int64(binary.BigEndian.Uint32(b[:]) >> 1)
}

// customLocked returns the custom parameters of a launch with substitution
// variables replaced. Moodle maps each key to lower case with everything but
// letters and digits turned into "_"; LTI 1.3 launches carry the original key
// as well when the two differ.
func (p *Platform) customLocked(l launch, lti13 bool) jsonObject {
	keys := make([]string, 0, len(l.link.Custom))
	for k := range l.link.Custom {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var o jsonObject
	for _, k := range keys {
		v := p.substituteLocked(l, l.link.Custom[k])
		mapped := mapCustomKey(k)
		if lti13 && mapped != k {
			o = append(o, jsonMember{k, v})
		}
		o = append(o, jsonMember{mapped, v})
	}
	return o
}

// mapCustomKey is Moodle's key mapping for custom parameters.
func mapCustomKey(k string) string {
	k = strings.ToLower(strings.TrimSpace(k))
	b := []byte(k)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// substituteLocked replaces a value that is exactly one of the supported
// substitution variables. Moodle leaves unknown variables as they are.
func (p *Platform) substituteLocked(l launch, v string) string {
	u, c := l.user, l.course
	switch v {
	case "$User.id":
		return u.ID
	case "$User.username":
		return u.Username
	case "$Person.name.given":
		return u.GivenName
	case "$Person.name.family":
		return u.FamilyName
	case "$Person.name.full":
		return fullName(u)
	case "$Person.email.primary":
		return u.Email
	case "$Context.id", "$CourseSection.sourcedId":
		return c.ID
	case "$Context.title", "$CourseSection.title":
		return c.Title
	case "$Context.label", "$CourseSection.label":
		return c.Label
	case "$ResourceLink.id":
		return l.link.ID
	case "$ResourceLink.title":
		return l.link.Title
	case "$ToolProxyBinding.memberships.url":
		return p.membershipsURLLocked(c.ID, l.tool.DeploymentID)
	case "$LineItems.url":
		return p.lineItemsURLLocked(c.ID, l.tool.DeploymentID)
	case "$LineItem.url":
		if l.state == nil || l.state.lineItemID == 0 {
			return ""
		}
		return p.lineItemURLLocked(c.ID, l.state.lineItemID, l.tool.DeploymentID)
	}
	return v
}

const (
	servicesPath          = "/mod/lti/services.php/"
	contentItemReturnPath = "/mod/lti/contentitem_return.php"
	outcomesPath          = "/mod/lti/service.php"
	authPath              = "/mod/lti/auth.php"
)

func (p *Platform) lineItemsURLLocked(courseID, typeID string) string {
	return p.endpointLocked(servicesPath+url.PathEscape(courseID)+"/lineitems") +
		"?type_id=" + url.QueryEscape(typeID)
}

// lineItemPathLocked is the line item URL without its query.
func (p *Platform) lineItemPathLocked(courseID string, itemID int) string {
	return p.endpointLocked(fmt.Sprintf("%s%s/lineitems/%d/lineitem",
		servicesPath, url.PathEscape(courseID), itemID))
}

func (p *Platform) lineItemURLLocked(courseID string, itemID int, typeID string) string {
	return p.lineItemPathLocked(courseID, itemID) + "?type_id=" + url.QueryEscape(typeID)
}

func (p *Platform) membershipsURLLocked(courseID, typeID string) string {
	return p.endpointLocked(servicesPath + "CourseSection/" + url.PathEscape(courseID) +
		"/bindings/" + url.PathEscape(typeID) + "/memberships")
}

// returnURLLocked is launch_presentation_return_url, with Moodle's parameter
// order.
func (p *Platform) returnURLLocked(l launch) string {
	return p.endpointLocked("/mod/lti/return.php") +
		"?course=" + url.QueryEscape(l.course.ID) +
		"&launch_container=4" +
		"&instanceid=" + url.QueryEscape(l.link.ID) +
		"&sesskey=" + url.QueryEscape(l.sesskey)
}
