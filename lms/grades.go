package lms

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// lineItem is a gradebook column: either coupled to an activity (created
// with it) or standalone (created by a tool through AGS).
type lineItem struct {
	id         int
	courseID   string
	typeID     string
	label      string
	max        float64
	resourceID string
	tag        string
	linkID     string
	hasLinkID  bool
	coupled    bool
	grades     map[string]*grade // by user id
	userOrder  []string          // first-graded order, for stable results
	history    map[string][]GradeEvent
}

// grade is one user's entry in a column. score is nil when the grade was
// cleared (a score that is not FullyGraded, or an LTI 1.1 delete).
type grade struct {
	score    *float64 // on the column's scale, 0..max
	rawMax   float64  // the maximum the tool scored against
	comment  string
	modified time.Time // second resolution, as Moodle stores it
}

func (p *Platform) addLineItemLocked(li *lineItem) int {
	p.nextItemID++
	li.id = p.nextItemID
	li.grades = map[string]*grade{}
	p.items[li.id] = li
	return li.id
}

// setGradeLocked stores a grade for userID.
func (li *lineItem) setGradeLocked(userID string, score *float64, rawMax float64, comment string,
	modified time.Time) {
	if _, ok := li.grades[userID]; !ok {
		li.userOrder = append(li.userOrder, userID)
	}
	li.grades[userID] = &grade{
		score: score, rawMax: rawMax, comment: comment,
		modified: modified.Truncate(time.Second),
	}
	if li.history == nil {
		li.history = map[string][]GradeEvent{}
	}
	ev := GradeEvent{Timestamp: modified.Truncate(time.Second), Comment: comment}
	if score != nil {
		v := *score
		ev.Score = &v
	}
	li.history[userID] = append(li.history[userID], ev)
}

// GradeEvent is one accepted change of a grade, as Moodle's grade history
// (grade_grades_history) records it.
type GradeEvent struct {
	// Score is on the line item's scale, nil for a cleared grade.
	Score     *float64
	Timestamp time.Time
	Comment   string
}

// GradeHistory returns every change the platform accepted for userID in a
// line item (its URL or id), oldest first. Refused requests leave no trace,
// so a tool that resends a score the platform already has shows up here
// only if the platform took it twice.
func (p *Platform) GradeHistory(lineItemURLorID, userID string) []GradeEvent {
	id, err := lineItemIDOf(lineItemURLorID)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	li := p.items[id]
	if li == nil {
		return nil
	}
	return slices.Clone(li.history[userID])
}

// Grade returns the grade of userID in a line item, given as its URL (with
// or without query) or its numeric id. score is on the line item's scale
// (0 to its scoreMaximum; 100 for an activity's own column) and nil when
// the grade was cleared; ok is false when there is no grade at all.
func (p *Platform) Grade(lineItemURLorID, userID string) (score *float64, ts time.Time, ok bool) {
	id, err := lineItemIDOf(lineItemURLorID)
	if err != nil {
		return nil, time.Time{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	li := p.items[id]
	if li == nil {
		return nil, time.Time{}, false
	}
	g := li.grades[userID]
	if g == nil {
		return nil, time.Time{}, false
	}
	if g.score != nil {
		s := *g.score
		score = &s
	}
	return score, g.modified, true
}

// LineItemURL returns the URL of the gradebook column of l in c for tool (a
// client id or consumer key), creating the column if l.LineItem is set and
// it does not exist yet. It is "" when l has no column. LTI 1.1 outcomes
// land in this column.
func (p *Platform) LineItemURL(c Course, l Link, tool string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.toolLocked(tool)
	if t == nil {
		return ""
	}
	p.courseLocked(c)
	st := p.linkLocked(c, l, t)
	if st.lineItemID == 0 {
		return ""
	}
	return p.lineItemURLLocked(c.ID, st.lineItemID, t.DeploymentID)
}

// lineItemPattern finds the item id in a line item URL.
var lineItemPattern = regexp.MustCompile(`/lineitems/(\d+)/lineitem(?:[/?]|$)`)

func lineItemIDOf(s string) (int, error) {
	if id, err := strconv.Atoi(s); err == nil {
		return id, nil
	}
	m := lineItemPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("parse line item %q: not a line item url or id", s)
	}
	return strconv.Atoi(m[1])
}

// clampScore keeps a grade within the column's range, as Moodle's gradebook
// bounds final grades.
func clampScore(v, max float64) float64 {
	return math.Min(math.Max(v, 0), max)
}

// isNumeric reports whether s is a number in PHP's is_numeric sense for
// decimal strings: optional whitespace, sign, digits with an optional
// fraction, optional exponent. NaN, infinities and hex are not numbers.
var numericPattern = regexp.MustCompile(
	`^[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[ \t\n\r\v\f]*$`)

func isNumeric(s string) bool { return numericPattern.MatchString(s) }

// parseNumeric parses a string that passed isNumeric.
func parseNumeric(s string) (float64, error) {
	return strconv.ParseFloat(strings.TrimSpace(s), 64)
}

// isoTimestamp matches the calendar-date forms of ISO 8601 that Moodle's
// validate_iso8601_date accepts: a date, optionally followed by T or a space
// and a time with optional seconds, fraction and zone.
// TODO: Moodle's pattern also accepts week dates, ordinal dates and the
// basic format without separators; no tool is known to send them.
var isoTimestamp = regexp.MustCompile(`^([+-]?\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])` +
	`(?:[T ]([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:[.,](\d+))?)?` +
	`([zZ]|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?)?$`)

// parseISOTimestamp parses a score timestamp to whole seconds, the
// resolution of Moodle's strtotime. A timestamp without zone is UTC.
func parseISOTimestamp(s string) (time.Time, bool) {
	m := isoTimestamp.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	atoi := func(v string) int { n, _ := strconv.Atoi(v); return n }
	year, month, day := atoi(m[1]), time.Month(atoi(m[2])), atoi(m[3])
	hour, minute, sec := atoi(m[4]), atoi(m[5]), atoi(m[6])
	loc := time.UTC
	if z := m[8]; z != "" && z != "Z" && z != "z" {
		digits := strings.ReplaceAll(z[1:], ":", "")
		offset := atoi(digits[:2]) * 3600
		if len(digits) == 4 {
			offset += atoi(digits[2:]) * 60
		}
		if z[0] == '-' {
			offset = -offset
		}
		loc = time.FixedZone(z, offset)
	}
	// Like strtotime, time.Date rolls 31 February over into March.
	return time.Date(year, month, day, hour, minute, sec, 0, loc), true
}
