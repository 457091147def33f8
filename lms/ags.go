package lms

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Media types of the Assignment and Grade Services.
const (
	mtLineItem          = "application/vnd.ims.lis.v2.lineitem+json"
	mtLineItemContainer = "application/vnd.ims.lis.v2.lineitemcontainer+json"
	mtScore             = "application/vnd.ims.lis.v1.score+json"
	mtScoreContainer    = "application/vnd.ims.lis.v1.scorecontainer+json"
	mtResultContainer   = "application/vnd.ims.lis.v2.resultcontainer+json"
	maxServiceBody      = 1 << 20
)

// handleLineItems is GET (list) and POST (create) on
// /mod/lti/services.php/<course>/lineitems?type_id=N.
func (p *Platform) handleLineItems(w http.ResponseWriter, r *http.Request) {
	courseID := r.PathValue("course")
	typeID, hasType := queryValue(r, "type_id")
	isPost := r.Method == http.MethodPost
	// Moodle compares the raw Accept header for GET and the Content-Type
	// without parameters for POST, each against its exact media types.
	ct := r.Header.Get("Accept")
	if isPost {
		ct = mediaType(r.Header.Get("Content-Type"))
	}
	container := ct == "" || ct == mtLineItemContainer
	scopes := []string{ScopeLineItem}
	if !isPost {
		scopes = append(scopes, ScopeLineItemReadOnly)
	}
	var body []byte
	if isPost {
		var err error
		if body, err = io.ReadAll(io.LimitReader(r.Body, maxServiceBody)); err != nil {
			http.Error(w, "Bad Request", http.StatusBadRequest)
			return
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !hasType || !p.bearerLocked(r, typeID, scopes...) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	if container == isPost || ct != "" && ct != mtLineItemContainer && ct != mtLineItem {
		http.Error(w, "No context or unsupported content type", http.StatusBadRequest)
		return
	}
	if p.courses[courseID] == nil {
		http.Error(w, "Not Found: Course "+courseID+" doesn't exist", http.StatusNotFound)
		return
	}
	if p.toolByTypeLocked(typeID) == nil {
		http.Error(w, "Not allowed in context", http.StatusForbidden)
		return
	}
	if isPost {
		p.createLineItemLocked(w, courseID, typeID, body)
		return
	}
	p.listLineItemsLocked(w, r, courseID, typeID)
}

func (p *Platform) listLineItemsLocked(w http.ResponseWriter, r *http.Request, courseID, typeID string) {
	q := r.URL.Query()
	resourceID, byResource := queryValue(r, "resource_id")
	linkID, byLink := queryValue(r, "resource_link_id")
	if !byLink {
		linkID, byLink = queryValue(r, "lti_link_id")
	}
	tag, byTag := queryValue(r, "tag")
	var items []*lineItem
	for _, li := range p.sortedItemsLocked() {
		if li.courseID != courseID || li.typeID != typeID ||
			byResource && li.resourceID != resourceID ||
			byTag && li.tag != tag ||
			byLink && (!li.hasLinkID || li.linkID != linkID) {
			continue
		}
		items = append(items, li)
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	from, _ := strconv.Atoi(q.Get("from"))
	total := len(items)
	if limit > 0 {
		extra := url.Values{}
		if byResource {
			extra.Set("resource_id", resourceID)
		}
		if byLink {
			extra.Set("resource_link_id", linkID)
		}
		if byTag {
			extra.Set("tag", tag)
		}
		base := p.endpointLocked(servicesPath + url.PathEscape(courseID) + "/lineitems")
		w.Header().Set("Link", moodlePageLinks(base, extra, typeID, limit, from, total, true))
		items = pageOf(items, from, limit)
	}
	out := make([]jsonObject, 0, len(items))
	for _, li := range items {
		out = append(out, p.lineItemJSONLocked(li))
	}
	writeJSONType(w, http.StatusOK, mtLineItemContainer, out)
}

// createLineItemLocked adds a standalone line item and answers with the
// posted JSON plus its id, which is what Moodle echoes.
func (p *Platform) createLineItemLocked(w http.ResponseWriter, courseID, typeID string, body []byte) {
	obj, err := decodeObject(body)
	if err != nil || !isSet(obj, "scoreMaximum") || !isSet(obj, "label") {
		http.Error(w, "No label or Score Maximum", http.StatusBadRequest)
		return
	}
	max, ok := jsonNumeric(obj.get("scoreMaximum"))
	if !ok {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	li := &lineItem{courseID: courseID, typeID: typeID, max: max}
	li.label, _ = jsonScalar(obj.get("label"))
	li.resourceID, _ = jsonScalar(obj.get("resourceId"))
	li.tag, _ = jsonScalar(obj.get("tag"))
	for _, k := range []string{"resourceLinkId", "ltiLinkId"} {
		if isSet(obj, k) {
			li.linkID, _ = jsonScalar(obj.get(k))
			li.hasLinkID = true
			break
		}
	}
	if li.hasLinkID && !p.linkExistsLocked(courseID, li.linkID, typeID) {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	id := p.addLineItemLocked(li)
	obj.set("id", json.RawMessage(strconv.Quote(p.lineItemURLLocked(courseID, id, typeID))))
	writeJSONType(w, http.StatusCreated, mtLineItem, obj)
}

// handleLineItem is GET, PUT and DELETE on one line item.
func (p *Platform) handleLineItem(w http.ResponseWriter, r *http.Request) {
	courseID := r.PathValue("course")
	typeID, hasType := queryValue(r, "type_id")
	scopes := []string{ScopeLineItem}
	switch r.Method {
	case http.MethodGet:
		scopes = append(scopes, ScopeLineItemReadOnly)
	case http.MethodPut, http.MethodDelete:
	default:
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxServiceBody))
	if err != nil {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !hasType || !p.bearerLocked(r, typeID, scopes...) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	li, status, msg := p.findLineItemLocked(courseID, r.PathValue("item"), typeID)
	if li == nil {
		if status == http.StatusForbidden {
			status = http.StatusNotFound // this resource says 404 where scores say 403
		}
		http.Error(w, msg, status)
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSONType(w, http.StatusOK, mtLineItem, p.lineItemJSONLocked(li))
	case http.MethodPut:
		p.updateLineItemLocked(w, li, body)
	case http.MethodDelete:
		if li.coupled {
			http.Error(w, "Forbidden", http.StatusForbidden)
			return
		}
		delete(p.items, li.id)
		w.WriteHeader(http.StatusNoContent)
	}
}

// updateLineItemLocked applies a PUT. Changing scoreMaximum rescales the
// existing grades, keeping their percentage, as Moodle's gradebook does.
func (p *Platform) updateLineItemLocked(w http.ResponseWriter, li *lineItem, body []byte) {
	obj, err := decodeObject(body)
	if err != nil || !isSet(obj, "scoreMaximum") || !isSet(obj, "label") {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	max, ok := jsonNumeric(obj.get("scoreMaximum"))
	if !ok {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	var linkID string
	hasLink := false
	for _, k := range []string{"resourceLinkId", "ltiLinkId"} {
		if isSet(obj, k) {
			if _, numeric := jsonNumeric(obj.get(k)); !numeric {
				http.Error(w, "Bad Request", http.StatusBadRequest)
				return
			}
			linkID, _ = jsonScalar(obj.get(k))
			hasLink = true
			break
		}
	}
	if hasLink && !p.linkExistsLocked(li.courseID, linkID, li.typeID) {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	if max != li.max && li.max != 0 {
		for _, g := range li.grades {
			if g.score != nil {
				s := *g.score * max / li.max
				g.score = &s
			}
		}
	}
	li.max = max
	li.label, _ = jsonScalar(obj.get("label"))
	li.resourceID, _ = jsonScalar(obj.get("resourceId"))
	if !li.coupled {
		li.tag, _ = jsonScalar(obj.get("tag"))
	}
	if hasLink {
		li.linkID, li.hasLinkID = linkID, true
	}
	obj.set("id", json.RawMessage(strconv.Quote(p.lineItemURLLocked(li.courseID, li.id, li.typeID))))
	writeJSONType(w, http.StatusOK, mtLineItem, obj)
}

// findLineItemLocked resolves a line item of a course for a tool, with the
// status Moodle's score and result resources answer when it cannot.
func (p *Platform) findLineItemLocked(courseID, itemID, typeID string) (*lineItem, int, string) {
	if p.courses[courseID] == nil {
		return nil, http.StatusNotFound, "Not Found: Course " + courseID + " doesn't exist."
	}
	if p.toolByTypeLocked(typeID) == nil {
		return nil, http.StatusForbidden, "Not allowed in context"
	}
	id, err := strconv.Atoi(itemID)
	li := p.items[id]
	if err != nil || li == nil {
		return nil, http.StatusNotFound, "Not Found: Grade item " + itemID + " doesn't exist."
	}
	if li.courseID != courseID || li.typeID != typeID {
		return nil, http.StatusForbidden, "Line item does not exist."
	}
	return li, 0, ""
}

// linkExistsLocked reports whether an activity of the tool exists in the
// course.
func (p *Platform) linkExistsLocked(courseID, linkID, typeID string) bool {
	_, ok := p.links[linkKey{courseID, linkID, typeID}]
	return ok
}

func (p *Platform) sortedItemsLocked() []*lineItem {
	items := make([]*lineItem, 0, len(p.items))
	for _, li := range p.items {
		items = append(items, li)
	}
	slices.SortFunc(items, func(a, b *lineItem) int { return a.id - b.id })
	return items
}

// lineItemJSONLocked is Moodle's JSON of a line item.
func (p *Platform) lineItemJSONLocked(li *lineItem) jsonObject {
	o := jsonObject{
		{"id", p.lineItemURLLocked(li.courseID, li.id, li.typeID)},
		{"label", li.label},
		{"scoreMaximum", li.max},
		{"resourceId", li.resourceID},
		{"tag", li.tag},
	}
	if li.hasLinkID {
		o = append(o, jsonMember{"resourceLinkId", li.linkID}, jsonMember{"ltiLinkId", li.linkID})
	}
	return o
}

// moodlePageLinks builds the Link header Moodle sends for paged line items
// and results. Moodle writes the rel values between typographic quotes
// (rel=“next”), so standard Link parsers find no next page; a tool that
// pages through Moodle's line items has to cope with that.
func moodlePageLinks(base string, extra url.Values, typeID string,
	limit, from, total int, withLast bool) string {
	page := func(f int) string {
		v := url.Values{}
		for k, vs := range extra {
			v[k] = vs
		}
		v.Set("type_id", typeID)
		v.Set("limit", strconv.Itoa(limit))
		v.Set("from", strconv.Itoa(f))
		return "<" + base + "?" + v.Encode() + ">"
	}
	outOfRange := from >= total || from < 0
	var b strings.Builder
	b.WriteString(page(0) + "; rel=“first”")
	if from > 0 && !outOfRange {
		b.WriteString(", " + page(max(from-limit, 0)) + "; rel=“prev”")
	}
	b.WriteString(", " + page(from) + "; rel=“canonical”")
	if from+limit <= total-1 && !outOfRange {
		b.WriteString(", " + page(from+limit) + "; rel=“next”")
	}
	if withLast {
		b.WriteString(", " + page(max(total-limit+1, 0)) + "; rel=“last”")
	}
	return b.String()
}

// pageOf returns items[from:from+limit], clipped.
func pageOf[T any](items []T, from, limit int) []T {
	if from < 0 || from >= len(items) {
		return nil
	}
	return items[from:min(from+limit, len(items))]
}

// queryValue returns a query parameter and whether it was present. Of
// repeated parameters the last counts, as in PHP.
func queryValue(r *http.Request, name string) (string, bool) {
	vs, ok := r.URL.Query()[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// decodeObject decodes a JSON object keeping its member order.
func decodeObject(b []byte) (jsonObject, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("decode object: not an object")
	}
	var o jsonObject
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("decode object: %w", err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("decode object: %w", err)
		}
		o.set(kt.(string), v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode object: trailing data")
	}
	return o, nil
}

// get returns the raw value of key, or nil.
func (o jsonObject) get(key string) json.RawMessage {
	for _, m := range o {
		if m.key == key {
			raw, _ := m.value.(json.RawMessage)
			return raw
		}
	}
	return nil
}

// set replaces key's value in place or appends it, as PHP's object
// assignment does.
func (o *jsonObject) set(key string, v any) {
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].value = v
			return
		}
	}
	*o = append(*o, jsonMember{key, v})
}

// isSet is PHP's isset on a decoded JSON member: present and not null.
func isSet(o jsonObject, key string) bool {
	raw := o.get(key)
	return raw != nil && string(raw) != "null"
}

// jsonNumeric is PHP's is_numeric on a decoded JSON value: a number, or a
// string holding one.
func jsonNumeric(raw json.RawMessage) (float64, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if !isNumeric(s) {
			return 0, false
		}
		v, err := parseNumeric(s)
		return v, err == nil
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, false
	}
	return v, true
}

// jsonScalar returns a string or number member as text.
func jsonScalar(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), true
	}
	return "", false
}
