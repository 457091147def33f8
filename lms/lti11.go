package lms

import (
	"fmt"
	"strconv"
	"strings"
)

// SignLTI11 returns the LTI 1.1 launch of l in c by u through tool (a client
// id or consumer key): the action URL and the signed form, with Moodle's
// fields in Moodle's order. Query parameters of the tool's launch URL are
// signed but, as in Moodle, not repeated in the form; they reach the tool in
// the action URL. Like a real launch it enrols u in c and registers l.
func (p *Platform) SignLTI11(u User, c Course, l Link, tool string) (action string, form Form, err error) {
	p.mu.Lock()
	t := p.toolLocked(tool)
	if t == nil {
		p.mu.Unlock()
		return "", nil, fmt.Errorf("sign lti 1.1 launch: no tool %q", tool)
	}
	if t.LTI11LaunchURL == "" || t.ConsumerKey == "" {
		p.mu.Unlock()
		return "", nil, fmt.Errorf("sign lti 1.1 launch: tool %q has no lti 1.1 registration", tool)
	}
	p.enrolLocked(c, u, nil)
	st := p.linkLocked(c, l, t)
	lc := launch{
		user: u, course: c, link: st.link, tool: t, state: st,
		sesskey:  randomString(10, hexDigits),
		launchID: randomLaunchID(),
	}
	fields := p.lti11FieldsLocked(lc)
	key, secret, action := t.ConsumerKey, t.SharedSecret, t.LTI11LaunchURL
	ts := p.now().Unix()
	p.mu.Unlock()

	form, err = signLTI11Form(action, key, secret, randomString(32, hexDigits), ts, fields)
	if err != nil {
		return "", nil, fmt.Errorf("sign lti 1.1 launch: %w", err)
	}
	return action, form, nil
}

// signLTI11Form signs fields the way Moodle's OAuth library does and returns
// the form to post: oauth_version, nonce, timestamp and consumer key first,
// then the launch fields, then the signature method and signature.
func signLTI11Form(action, key, secret, nonce string, ts int64, fields Form) (Form, error) {
	query, err := withQuery(action, nil)
	if err != nil {
		return nil, err
	}
	inQuery := map[string]bool{}
	for _, q := range query {
		inQuery[q.Name] = true
	}
	form := Form{
		{"oauth_version", "1.0"},
		{"oauth_nonce", nonce},
		{"oauth_timestamp", strconv.FormatInt(ts, 10)},
		{"oauth_consumer_key", key},
	}
	form = append(form, fields...)
	form = append(form, Field{"oauth_signature_method", "HMAC-SHA1"})
	// Moodle merges the query into the parameters with the launch value
	// winning, signs them all, then drops every query name from the form.
	var signed Form
	for _, q := range query {
		if !form.Has(q.Name) {
			signed = append(signed, q)
		}
	}
	signed = append(signed, form...)
	base, err := oauthBaseURL(action)
	if err != nil {
		return nil, err
	}
	sig := hmacSHA1Signature(signatureBaseString("POST", base, signed), secret)
	form = append(form, Field{"oauth_signature", sig})
	form.delFunc(func(f Field) bool { return inQuery[f.Name] })
	return form, nil
}

// delFunc removes the fields for which del returns true.
func (f *Form) delFunc(del func(Field) bool) {
	out := (*f)[:0]
	for _, fl := range *f {
		if !del(fl) {
			out = append(out, fl)
		}
	}
	*f = out
}

// lti11FieldsLocked returns the launch fields Moodle sends (without the
// oauth_* ones it adds when signing), in its order.
func (p *Platform) lti11FieldsLocked(l launch) Form {
	u, c := l.user, l.course
	f := Form{
		{"user_id", u.ID},
		{"lis_person_sourcedid", ""},
		{"roles", lti11Roles(userRoles(u))},
		{"context_id", c.ID},
		{"context_label", c.Label},
		{"context_title", c.Title},
		{"lti_message_type", "basic-lti-launch-request"},
		{"resource_link_title", l.link.Title},
		{"resource_link_description", ""},
		{"resource_link_id", l.link.ID},
		{"context_type", "CourseSection"},
		{"lis_course_section_sourcedid", ""},
	}
	if l.state.lineItemID != 0 {
		f = append(f,
			Field{"lis_result_sourcedid", p.sourcedIDLocked(l)},
			Field{"lis_outcome_service_url", p.endpointLocked(outcomesPath)},
		)
	}
	f = append(f, Form{
		{"lis_person_name_given", u.GivenName},
		{"lis_person_name_family", u.FamilyName},
		{"lis_person_name_full", fullName(u)},
		{"ext_user_username", u.Username},
		{"lis_person_contact_email_primary", u.Email},
		{"launch_presentation_locale", "en"},
		{"ext_lms", extLMS},
		{"tool_consumer_info_product_family_code", productFamily},
		{"tool_consumer_info_version", moodleVersion},
		{"oauth_callback", "about:blank"},
		{"lti_version", "LTI-1p0"},
		{"tool_consumer_instance_guid", p.siteGUIDLocked()},
		{"tool_consumer_instance_name", siteName},
		{"tool_consumer_instance_description", siteDescription},
	}...)
	for _, m := range p.customLocked(l, false) {
		f = append(f, Field{"custom_" + m.key, m.value.(string)})
	}
	return append(f,
		Field{"launch_presentation_document_target", "window"},
		Field{"launch_presentation_return_url", p.returnURLLocked(l)},
	)
}

// lti11Roles turns LIS v2 role URIs into Moodle's LTI 1.1 roles value:
// context roles as short names first, then system and institution roles as
// urn:lti URNs, comma-joined. Other URIs pass through unchanged.
func lti11Roles(roles []string) string {
	const v2 = "http://purl.imsglobal.org/vocab/lis/v2/"
	var ctx, sys, inst, other []string
	for _, r := range roles {
		switch {
		case strings.HasPrefix(r, v2+"membership#"):
			ctx = append(ctx, strings.TrimPrefix(r, v2+"membership#"))
		case strings.HasPrefix(r, v2+"system/person#"):
			sys = append(sys, "urn:lti:sysrole:ims/lis/"+strings.TrimPrefix(r, v2+"system/person#"))
		case strings.HasPrefix(r, v2+"institution/person#"):
			inst = append(inst, "urn:lti:instrole:ims/lis/"+strings.TrimPrefix(r, v2+"institution/person#"))
		default:
			other = append(other, r)
		}
	}
	all := append(append(append(ctx, sys...), inst...), other...)
	return strings.Join(all, ",")
}
