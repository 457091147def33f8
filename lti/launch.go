package lti

import (
	"encoding/json"
	"strings"
)

// Message types, named as LTI 1.3 names them. LTI 1.1 messages are mapped
// onto them.
const (
	MessageResourceLink = "LtiResourceLinkRequest"
	MessageDeepLinking  = "LtiDeepLinkingRequest"
)

// Launch is a verified launch, LTI 1.1 or LTI 1.3, in one shape.
type Launch struct {
	// Version is "1.1" or "1.3".
	Version string
	// MessageType is MessageResourceLink or MessageDeepLinking. An LTI 1.1
	// basic-lti-launch-request is a resource link launch, an LTI 1.1
	// ContentItemSelectionRequest a deep linking request (see IsContentItem).
	MessageType string
	// Issuer, ClientID and DeploymentID identify the LTI 1.3 registration.
	Issuer, ClientID, DeploymentID string
	// ConsumerKey identifies the LTI 1.1 consumer.
	ConsumerKey string
	// Subject is the platform's stable user id: sub (1.3) or user_id (1.1).
	Subject string
	// Name, GivenName, FamilyName and Email are the person's details when the
	// platform shares them.
	Name, GivenName, FamilyName, Email string
	// Username is the LMS login name when the platform shares it, "" otherwise.
	Username string
	// RawRoles are the role names as sent (an LTI 1.1 list split at commas).
	RawRoles []string
	// Roles are RawRoles interpreted by the verifier's RoleMapping.
	Roles Roles
	// Context is the course the launch comes from.
	Context Context
	// ResourceLink is the activity the launch comes from.
	ResourceLink ResourceLink
	// TargetLinkURI is the target_link_uri claim (1.3) or the URL the launch
	// was signed for (1.1).
	TargetLinkURI string
	// Custom holds the custom parameters: the custom claim (1.3, non-string
	// values in their JSON form) or the custom_* parameters with the prefix
	// removed (1.1).
	Custom map[string]string
	// Outcome is the LTI 1.1 Basic Outcomes endpoint, or nil.
	Outcome *BasicOutcome
	// AGS is the Assignment and Grade Services endpoint, or nil.
	AGS *AGSEndpoint
	// NRPS is the Names and Role Provisioning Services endpoint, or nil.
	NRPS *NRPSEndpoint
	// DeepLinking holds the deep linking settings of a deep linking request,
	// or nil.
	DeepLinking *DeepLinkingSettings
	// Presentation says how the platform shows the tool.
	Presentation Presentation
	// ToolPlatform describes the platform's software.
	ToolPlatform ToolPlatform

	// raw holds the 1.3 claims as decoded (numbers as json.Number) or the
	// 1.1 parameters (first value of each) as strings.
	raw map[string]any
}

// Context is the course (LTI context) of a launch.
type Context struct {
	ID, Label, Title string
	// Types are the context types as short names, such as "CourseSection",
	// whichever vocabulary form the platform used.
	Types []string
}

// ResourceLink is the activity (LTI resource link) of a launch.
type ResourceLink struct {
	ID, Title, Description string
}

// BasicOutcome is where LTI 1.1 Basic Outcomes grades go for this launch.
type BasicOutcome struct {
	ServiceURL string
	SourcedID  string
}

// AGSEndpoint is the Assignment and Grade Services claim. URLs are kept
// verbatim, query included: Moodle needs its type_id parameter on every call.
type AGSEndpoint struct {
	Scopes    []string
	LineItems string
	LineItem  string
}

// NRPSEndpoint is the Names and Role Provisioning Services claim.
type NRPSEndpoint struct {
	MembershipsURL string
	Versions       []string
}

// DeepLinkingSettings are the settings of a deep linking request. For an LTI
// 1.1 content-item request, AcceptTypes holds the accepted media types.
type DeepLinkingSettings struct {
	ReturnURL                         string
	AcceptTypes                       []string
	AcceptPresentationDocumentTargets []string
	AcceptMultiple                    bool
	AutoCreate                        bool
	Title, Text, Data                 string
}

// Presentation is the launch presentation the platform asks for.
type Presentation struct {
	DocumentTarget string
	ReturnURL      string
	Locale         string
	Width, Height  int
}

// ToolPlatform describes the platform's software and instance.
type ToolPlatform struct {
	GUID, Name, ProductFamilyCode, Version string
}

// IsContentItem reports whether the launch is an LTI 1.1
// ContentItemSelectionRequest. Its response is an LTI 1.1 content-item
// message, not an LTI 1.3 deep linking response, so callers must tell the two
// apart before answering.
func (l *Launch) IsContentItem() bool {
	return l.Version == "1.1" && l.MessageType == MessageDeepLinking
}

// claimAliases maps short names to the claim URIs they stand for in paths
// given to [Launch.Claim].
var claimAliases = map[string]string{
	"message_type":          claimMessageType,
	"version":               claimVersion,
	"deployment_id":         claimDeploymentID,
	"target_link_uri":       claimTargetLinkURI,
	"resource_link":         claimResourceLink,
	"context":               claimContext,
	"roles":                 claimRoles,
	"launch_presentation":   claimPresentation,
	"tool_platform":         claimToolPlatform,
	"custom":                claimCustom,
	"lis":                   claimLIS,
	"ext":                   claimExt,
	"endpoint":              claimAGS,
	"namesroleservice":      claimNRPS,
	"deep_linking_settings": claimDeepLinking,
	"basicoutcome":          claimBasicOutcome,
}

// Claim returns a scalar value of the launch by a configurable path, and
// whether it is present. Objects and arrays are not returned.
//
// For LTI 1.3 the path is a top-level claim name ("email", "sub", "name"), a
// full claim URI, or either followed by a dotted path into the claim. The
// LTI claim namespaces have short aliases, so "ext.user_username",
// "custom.canvas_user_login_id" and "lis.person_sourcedid" work. For LTI 1.1
// the path is a parameter name such as "ext_user_username",
// "custom_canvas_user_login_id", "lis_person_contact_email_primary" or
// "user_id".
func (l *Launch) Claim(path string) (string, bool) {
	if l.Version == "1.1" {
		return scalar(l.raw[path])
	}
	if v, ok := l.lookup(path); ok {
		return scalar(v)
	}
	head, tail, dotted := strings.Cut(path, ".")
	if uri, ok := claimAliases[head]; ok {
		if !dotted {
			return scalar(l.raw[uri])
		}
		if v, ok := l.lookup(uri + "." + tail); ok {
			return scalar(v)
		}
	}
	return "", false
}

// lookup resolves path against the claims: the longest claim name that is
// the whole path or a prefix of it followed by ".", then the rest of the path
// as object keys. Claim URIs contain dots, hence the longest match.
func (l *Launch) lookup(path string) (any, bool) {
	if v, ok := l.raw[path]; ok {
		return v, true
	}
	best := ""
	for name := range l.raw {
		if len(name) > len(best) && strings.HasPrefix(path, name+".") {
			best = name
		}
	}
	if best == "" {
		return nil, false
	}
	v := l.raw[best]
	for _, key := range strings.Split(path[len(best)+1:], ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[key]; !ok {
			return nil, false
		}
	}
	return v, true
}

// scalar returns the string form of a JSON scalar.
func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// usernamePaths are the places platforms put the LMS login name, most
// specific first.
var (
	usernamePaths11 = []string{"ext_user_username", "custom_canvas_user_login_id", "ext_d2l_username"}
	usernamePaths13 = []string{
		"ext.user_username", "preferred_username",
		"custom.canvas_user_login_id", "custom.user_username", "custom.moodle_user_login",
	}
)

func (l *Launch) findUsername() string {
	paths := usernamePaths13
	if l.Version == "1.1" {
		paths = usernamePaths11
	}
	for _, p := range paths {
		v, _ := l.Claim(p)
		v = strings.TrimSpace(v)
		// An LMS leaves a substitution variable it cannot resolve as is
		// ("$Canvas.user.loginId"); that is not anybody's name.
		if v != "" && !strings.HasPrefix(v, "$") {
			return v
		}
	}
	return ""
}

// contextType returns the short name of a context type given as a short
// name, a LIS v2 URI (…/course#CourseSection) or an LTI 1.1 URN
// (urn:lti:context-type:ims/lis/CourseSection).
func contextType(t string) string {
	t = strings.TrimSpace(t)
	if i := strings.LastIndexAny(t, "#/"); i >= 0 {
		t = t[i+1:]
	}
	return t
}

// Preview is what a launch says about itself, read from an id_token that is
// not verified yet. It is for display only, such as asking a person to
// confirm who they continue as; nothing may be decided on it.
type Preview struct {
	Person, Course, Activity string
}

// PreviewToken reads the person's name (or username), the course title and
// the activity title of an id_token without verifying it. Unreadable tokens
// give an empty Preview.
func PreviewToken(idToken string) Preview {
	tok, err := parseCompact(idToken)
	if err != nil {
		return Preview{}
	}
	c := tok.claims
	p := Preview{Person: printable(str(c, "name")), Course: printable(str(obj(c, claimContext), "title")),
		Activity: printable(str(obj(c, claimResourceLink), "title"))}
	if p.Person == "" {
		p.Person = printable(str(obj(c, claimExt), "user_username"))
	}
	return p
}
