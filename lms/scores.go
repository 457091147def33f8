package lms

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// handleScores is POST <lineitem>/scores?type_id=N. It applies Moodle's
// rules: 400 "Incorrect score received" for a score that lacks userId,
// timestamp, gradingProgress or activityProgress, has a timestamp that is not
// ISO 8601, a non-numeric scoreGiven or scoreMaximum, a scoreGiven without
// scoreMaximum, or a user who is not a gradable student of the course; 409
// when the timestamp is not strictly newer (to the second) than the stored
// grade's; and scoreGiven is dropped unless gradingProgress is FullyGraded.
func (p *Platform) handleScores(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.scoreReqs++
	p.mu.Unlock()
	typeID, hasType := queryValue(r, "type_id")
	if !hasType {
		// Without type_id Moodle takes the request for LTI 2 and finds no
		// tool proxy.
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "GET requests are not allowed.", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxServiceBody))
	if err != nil {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.bearerLocked(r, typeID, ScopeScore) {
		http.Error(w, "This resource does not support POST requests.", http.StatusUnauthorized)
		return
	}
	if ct := mediaType(r.Header.Get("Content-Type")); ct != mtScore {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	courseID := r.PathValue("course")
	li, status, msg := p.findLineItemLocked(courseID, r.PathValue("item"), typeID)
	if li == nil {
		http.Error(w, msg, status)
		return
	}
	sc, ok := parseScore(body)
	if !ok || !gradable(p.memberLocked(courseID, sc.userID)) {
		http.Error(w, "Incorrect score received", http.StatusBadRequest)
		return
	}
	if g := li.grades[sc.userID]; g != nil && !g.modified.IsZero() &&
		g.modified.Unix() >= sc.timestamp.Unix() {
		http.Error(w, "Refusing score with an earlier timestamp for item "+
			strconv.Itoa(li.id)+" and user "+sc.userID, http.StatusConflict)
		return
	}
	var final *float64
	if sc.given != nil && sc.gradingProgress == "FullyGraded" {
		v := *sc.given
		// Moodle rescales to the column's maximum unless the score's own
		// maximum is zero or already equal to it.
		if sc.max != li.max && sc.max != 0 {
			v = v * li.max / sc.max
		}
		v = clampScore(v, li.max)
		final = &v
	}
	li.setGradeLocked(sc.userID, final, sc.max, sc.comment, sc.timestamp)
	w.Header().Set("Content-Type", mtScore)
	w.WriteHeader(http.StatusOK)
}

// score is a validated AGS score.
type score struct {
	userID          string
	timestamp       time.Time
	gradingProgress string
	given           *float64
	max             float64 // 1 when absent, as in Moodle
	comment         string
}

// parseScore applies Moodle's validation of a posted score.
func parseScore(body []byte) (score, bool) {
	obj, err := decodeObject(body)
	if err != nil {
		return score{}, false
	}
	for _, k := range []string{"userId", "timestamp", "gradingProgress", "activityProgress"} {
		if !isSet(obj, k) {
			return score{}, false
		}
	}
	var sc score
	var ok bool
	if sc.userID, ok = jsonScalar(obj.get("userId")); !ok {
		return score{}, false
	}
	var ts string
	if json.Unmarshal(obj.get("timestamp"), &ts) != nil {
		return score{}, false
	}
	if sc.timestamp, ok = parseISOTimestamp(ts); !ok {
		return score{}, false
	}
	sc.gradingProgress, _ = jsonScalar(obj.get("gradingProgress"))
	sc.max = 1
	if isSet(obj, "scoreMaximum") {
		if sc.max, ok = jsonNumeric(obj.get("scoreMaximum")); !ok {
			return score{}, false
		}
	}
	if isSet(obj, "scoreGiven") {
		if !isSet(obj, "scoreMaximum") {
			return score{}, false
		}
		v, ok := jsonNumeric(obj.get("scoreGiven"))
		if !ok {
			return score{}, false
		}
		sc.given = &v
	}
	sc.comment, _ = jsonScalar(obj.get("comment"))
	return sc, true
}

// handleResults is GET <lineitem>/results?type_id=N[&user_id=U].
func (p *Platform) handleResults(w http.ResponseWriter, r *http.Request) {
	typeID, hasType := queryValue(r, "type_id")
	if !hasType {
		http.Error(w, "Invalid tool proxy specified.", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "Invalid request method specified.", http.StatusMethodNotAllowed)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.bearerLocked(r, typeID, ScopeResultReadOnly) {
		http.Error(w, "This resource does not support GET requests.", http.StatusForbidden)
		return
	}
	if accept := r.Header.Get("Accept"); accept != "" && accept != mtResultContainer {
		http.Error(w, "Invalid request made.", http.StatusBadRequest)
		return
	}
	courseID := r.PathValue("course")
	li, status, msg := p.findLineItemLocked(courseID, r.PathValue("item"), typeID)
	if li == nil {
		http.Error(w, msg, status)
		return
	}
	q := r.URL.Query()
	userFilter := q.Get("user_id")
	var users []string
	for _, u := range li.userOrder {
		g := li.grades[u]
		// Moodle lists only grades that have a modification time.
		if g == nil || g.modified.IsZero() || userFilter != "" && userFilter != "0" && u != userFilter {
			continue
		}
		users = append(users, u)
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	from, _ := strconv.Atoi(q.Get("from"))
	if limit > 0 {
		base := p.lineItemPathLocked(courseID, li.id) + "/results"
		// Moodle computes no "last" page for LTI 1.x results.
		w.Header().Set("Link", moodlePageLinks(base, url.Values{}, typeID, limit, from, len(users), false))
		users = pageOf(users, from, limit)
	}
	itemPath := p.lineItemPathLocked(courseID, li.id)
	out := make([]jsonObject, 0, len(users))
	for _, u := range users {
		g := li.grades[u]
		o := jsonObject{
			{"id", itemPath + "/results?type_id=" + url.QueryEscape(typeID) +
				"&user_id=" + url.QueryEscape(u)},
			{"userId", u},
		}
		// Moodle tests the grade with PHP's empty(), so a grade of 0 is
		// reported like no grade: without score, maximum or timestamp. And
		// resultMaximum is the scoreMaximum the tool sent, not the column's.
		if g.score != nil && *g.score != 0 {
			o = append(o, jsonMember{"resultScore", *g.score}, jsonMember{"resultMaximum", g.rawMax})
			if g.comment != "" {
				o = append(o, jsonMember{"comment", g.comment})
			}
			o = append(o,
				jsonMember{"scoreOf", itemPath + "?type_id=" + url.QueryEscape(typeID)},
				jsonMember{"timestamp", g.modified.UTC().Format(time.RFC3339)},
			)
		}
		out = append(out, o)
	}
	writeJSONType(w, http.StatusOK, mtResultContainer, out)
}
