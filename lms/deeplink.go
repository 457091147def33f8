package lms

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// DeepLinkedItem is an activity a tool created through deep linking.
type DeepLinkedItem struct {
	// CourseID is the course the activity was added to.
	CourseID string
	// Link is the new activity, launchable with the tool. Its Custom holds
	// the item's custom parameters, LineItem and ScoreMaximum its lineItem.
	Link Link
	// URL is the item's url, "" when it had none. Moodle turns an item with
	// a url into an activity that launches that URL outside the tool's
	// registration (its type id becomes 0).
	URL string
	// Detached reports that the activity lost its link to the tool
	// registration because the item had a url.
	Detached bool
}

// DeepLinked returns the activities created through deep linking, oldest
// first.
func (p *Platform) DeepLinked() []DeepLinkedItem {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.deepLinked)
}

const (
	claimDLContentItems = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
	claimDLMessageType  = claimPrefix + "message_type"
)

// handleContentItemReturn is contentitem_return.php: the tool posts its
// LtiDeepLinkingResponse as the form field JWT. Moodle checks the session
// and sesskey, verifies the JWT with the tool's keys, requires its iss to be
// the tool's client id, and creates an activity per ltiResourceLink item.
func (p *Platform) handleContentItemReturn(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		renderError(w, http.StatusBadRequest, "Invalid request", "The request could not be read.")
		return
	}
	q := r.URL.Query()
	courseID, typeID, sesskey := q.Get("course"), q.Get("id"), q.Get("sesskey")
	p.mu.Lock()
	sess := p.sessionLocked(r)
	t := p.toolByTypeLocked(typeID)
	var tool Tool
	if t != nil {
		tool = *t
	}
	cs := p.courses[courseID]
	var course Course
	if cs != nil {
		course = cs.course
	}
	iss := p.tokenIssuerLocked()
	p.mu.Unlock()
	switch {
	case sess == nil:
		renderError(w, http.StatusForbidden, "Login required", "You are not logged in.")
		return
	case sesskey == "" || sesskey != sess.sesskey:
		renderError(w, http.StatusForbidden, "Invalid sesskey", "Your session key is not valid.")
		return
	case t == nil || cs == nil:
		renderError(w, http.StatusNotFound, "Invalid request", "Unknown tool or course.")
		return
	}
	raw := r.PostForm.Get("JWT")
	if raw == "" {
		renderError(w, http.StatusBadRequest, "Invalid request", "No JWT was posted.")
		return
	}
	tok, err := p.verifyToolJWT(r.Context(), tool, raw)
	if err != nil {
		renderError(w, http.StatusBadRequest, "Invalid JWT", "The signature of the tool's response does not verify.")
		return
	}
	claims := tok.PrivateClaims()
	str := func(k string) string { s, _ := claims[k].(string); return s }
	switch {
	case tok.Issuer() != tool.ClientID:
		renderError(w, http.StatusBadRequest, "Consumer key is incorrect", "The JWT's iss is not the tool's client id.")
		return
	case !slices.Contains(tok.Audience(), iss):
		renderError(w, http.StatusBadRequest, "Invalid JWT", "The JWT's aud is not this platform.")
		return
	case str(claimDLMessageType) != "LtiDeepLinkingResponse" || str(ClaimVersion) != "1.3.0":
		renderError(w, http.StatusBadRequest, "Invalid JWT", "The JWT is not an LTI 1.3 deep linking response.")
		return
	case str(ClaimDeploymentID) != deploymentOf(&tool, course):
		renderError(w, http.StatusBadRequest, "Invalid JWT", "The JWT names another deployment.")
		return
	}
	items, _ := claims[claimDLContentItems].([]any)
	var added []DeepLinkedItem
	p.mu.Lock()
	for _, it := range items {
		o, ok := it.(map[string]any)
		if !ok || o["type"] != "ltiResourceLink" {
			continue
		}
		p.nextCMID++
		title, _ := o["title"].(string)
		if title == "" {
			title = "External tool"
		}
		l := Link{ID: strconv.Itoa(1000 + p.nextCMID), Title: title}
		if custom, ok := o["custom"].(map[string]any); ok {
			l.Custom = map[string]string{}
			for k, v := range custom {
				l.Custom[k] = fmt.Sprint(v)
			}
		}
		if li, ok := o["lineItem"].(map[string]any); ok {
			l.LineItem = true
			if m, ok := li["scoreMaximum"].(float64); ok && m > 0 {
				l.ScoreMaximum = m
			}
		}
		u, _ := o["url"].(string)
		item := DeepLinkedItem{CourseID: courseID, Link: l, URL: u, Detached: u != ""}
		if !item.Detached {
			p.linkLocked(course, l, t)
		}
		p.deepLinked = append(p.deepLinked, item)
		added = append(added, item)
	}
	p.mu.Unlock()
	if len(added) == 0 {
		renderError(w, http.StatusBadRequest, "Nothing added", "The tool returned no resource link.")
		return
	}
	var titles []string
	for _, a := range added {
		titles = append(titles, a.Link.Title)
	}
	render(w, http.StatusOK, "message.html", struct{ Title, Message, Back string }{
		"Activities added", strings.Join(titles, ", "), p.demoPath(courseID)})
}
