package lti

import (
	"encoding/json"
	"strconv"
	"strings"
)

// LTI 1.3 claim names.
const (
	claimNS            = "https://purl.imsglobal.org/spec/lti/claim/"
	claimMessageType   = claimNS + "message_type"
	claimVersion       = claimNS + "version"
	claimDeploymentID  = claimNS + "deployment_id"
	claimTargetLinkURI = claimNS + "target_link_uri"
	claimResourceLink  = claimNS + "resource_link"
	claimContext       = claimNS + "context"
	claimRoles         = claimNS + "roles"
	claimPresentation  = claimNS + "launch_presentation"
	claimToolPlatform  = claimNS + "tool_platform"
	claimCustom        = claimNS + "custom"
	claimLIS           = claimNS + "lis"
	claimExt           = claimNS + "ext"
	claimAGS           = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
	claimNRPS          = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
	claimDeepLinking   = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
	claimBasicOutcome  = "https://purl.imsglobal.org/spec/lti-bo/claim/basicoutcome"
	// claimBasicOutcomeOld is the name Moodle used before MDL-68384.
	claimBasicOutcomeOld = "https://purl.imsglobal.org/spec/lti-bos/claim/basicoutcomesservice"
)

// launchFrom13 builds the launch of verified LTI 1.3 claims.
func launchFrom13(c map[string]any, clientID string, m RoleMapping) *Launch {
	l := &Launch{
		Version:       "1.3",
		MessageType:   str(c, claimMessageType),
		Issuer:        str(c, "iss"),
		ClientID:      clientID,
		DeploymentID:  str(c, claimDeploymentID),
		Subject:       subject(c),
		Name:          str(c, "name"),
		GivenName:     str(c, "given_name"),
		FamilyName:    str(c, "family_name"),
		Email:         str(c, "email"),
		RawRoles:      strs(c, claimRoles),
		TargetLinkURI: str(c, claimTargetLinkURI),
		raw:           c,
	}
	l.Roles = m.Parse(l.RawRoles)
	if ctx := obj(c, claimContext); ctx != nil {
		l.Context = Context{ID: str(ctx, "id"), Label: str(ctx, "label"), Title: str(ctx, "title")}
		for _, t := range strs(ctx, "type") {
			if t = contextType(t); t != "" {
				l.Context.Types = append(l.Context.Types, t)
			}
		}
	}
	if rl := obj(c, claimResourceLink); rl != nil {
		l.ResourceLink = ResourceLink{
			ID: str(rl, "id"), Title: str(rl, "title"), Description: str(rl, "description"),
		}
	}
	if custom := obj(c, claimCustom); custom != nil {
		l.Custom = make(map[string]string, len(custom))
		for k, v := range custom {
			l.Custom[k] = stringify(v)
		}
	}
	for _, name := range []string{claimBasicOutcome, claimBasicOutcomeOld} {
		if bo := obj(c, name); bo != nil && l.Outcome == nil {
			svc, id := str(bo, "lis_outcome_service_url"), str(bo, "lis_result_sourcedid")
			if svc != "" && id != "" {
				l.Outcome = &BasicOutcome{ServiceURL: svc, SourcedID: id}
			}
		}
	}
	if ags := obj(c, claimAGS); ags != nil {
		l.AGS = &AGSEndpoint{
			Scopes: strs(ags, "scope"), LineItems: str(ags, "lineitems"), LineItem: str(ags, "lineitem"),
		}
	}
	if nrps := obj(c, claimNRPS); nrps != nil {
		l.NRPS = &NRPSEndpoint{
			MembershipsURL: str(nrps, "context_memberships_url"), Versions: strs(nrps, "service_versions"),
		}
	}
	if dl := obj(c, claimDeepLinking); dl != nil {
		l.DeepLinking = &DeepLinkingSettings{
			ReturnURL:                         str(dl, "deep_link_return_url"),
			AcceptTypes:                       strs(dl, "accept_types"),
			AcceptPresentationDocumentTargets: strs(dl, "accept_presentation_document_targets"),
			AcceptMultiple:                    boolish(dl["accept_multiple"]),
			AutoCreate:                        boolish(dl["auto_create"]),
			Title:                             str(dl, "title"),
			Text:                              str(dl, "text"),
			Data:                              str(dl, "data"),
		}
	}
	if p := obj(c, claimPresentation); p != nil {
		l.Presentation = Presentation{
			DocumentTarget: str(p, "document_target"),
			ReturnURL:      str(p, "return_url"),
			Locale:         str(p, "locale"),
			Width:          intish(p["width"]),
			Height:         intish(p["height"]),
		}
	}
	if tp := obj(c, claimToolPlatform); tp != nil {
		l.ToolPlatform = ToolPlatform{
			GUID: str(tp, "guid"), Name: str(tp, "name"), Version: str(tp, "version"),
		}
		l.ToolPlatform.ProductFamilyCode = str(tp, "product_family_code")
		if l.ToolPlatform.ProductFamilyCode == "" {
			// Moodle before MDL-68384 misnamed the field.
			l.ToolPlatform.ProductFamilyCode = str(tp, "family_code")
		}
	}
	l.Username = l.findUsername()
	return l
}

// str returns a scalar member of a claims object as a string, "" when absent
// or not a scalar. Identifiers are strings by the specification, but some
// platforms send numbers.
func str(m map[string]any, key string) string {
	s, _ := scalar(m[key])
	return s
}

func obj(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}

// strs returns the string members of an array claim; a lone string counts as
// a one-element array.
func strs(m map[string]any, key string) []string {
	switch v := m[key].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// boolish reads a boolean that older Moodle versions sent as a string.
func boolish(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(strings.TrimSpace(v), "true")
	}
	return false
}

func intish(v any) int {
	s, ok := scalar(v)
	if !ok {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= 0 && f < 1<<31 {
		return int(f)
	}
	return 0
}

// stringify returns a scalar as its string form and anything else as JSON.
func stringify(v any) string {
	if s, ok := scalar(v); ok {
		return s
	}
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
