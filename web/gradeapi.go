package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/grade"
	"github.com/labhub/labhub/handin"
	"github.com/labhub/labhub/store"
)

// API token scopes of Labhub's own API. A personal token without scopes
// has all of its user's rights.
const (
	ScopeGrades  = "grades"
	ScopeHandins = "handins"
)

// apiAccess is an API caller's standing in the course of the path.
type apiAccess struct {
	Token  *store.Token
	User   *store.User
	Course store.Course
	Role   string
}

func (a *apiAccess) teacher() bool { return course.IsTeacher(a.Role) || a.User.Admin }

// apiCourse authenticates the caller and loads the course of the path.
// A personal token with scopes needs one of scopes. A server's own token (the
// JUPYTERHUB_API_TOKEN of a notebook) only reaches hand-ins and activities
// of its own course. Callers who are not members of the course get the 404
// of a course that does not exist.
func (s *Server) apiCourse(c *gin.Context, scopes ...string) (*apiAccess, bool) {
	t, u, ok := s.apiCaller(c)
	if !ok {
		return nil, false
	}
	a := &apiAccess{Token: t, User: u}
	db := s.DB.WithContext(c.Request.Context())
	err := db.Where("slug = ?", c.Param("course")).First(&a.Course).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		s.log.Error("failed to load course", "error", err)
		apiError(c, http.StatusInternalServerError, "loading the course failed")
		return nil, false
	}
	found := err == nil
	if found {
		var e store.Enrollment
		if db.Where("course_id = ? AND user_id = ?", a.Course.ID, u.ID).First(&e).Error == nil {
			a.Role = e.Role
		}
	}
	if !found || a.Role == "" && !u.Admin {
		apiError(c, http.StatusNotFound, "no such course")
		return nil, false
	}
	switch t.Kind {
	case store.TokenServer:
		var srv store.Server
		if t.ServerID == nil || !slices.Contains(scopes, ScopeHandins) ||
			db.First(&srv, *t.ServerID).Error != nil || srv.CourseID != a.Course.ID {
			apiError(c, http.StatusForbidden, "a server's token may only hand in to its own course")
			return nil, false
		}
	case store.TokenAPI:
		if sc := auth.Scopes(t); len(sc) > 0 && !slices.ContainsFunc(scopes, func(want string) bool {
			return slices.Contains(sc, want)
		}) {
			apiError(c, http.StatusForbidden, "this token lacks the "+scopes[0]+" scope")
			return nil, false
		}
	default:
		apiError(c, http.StatusForbidden, "use a personal API token (labhub token create) or the server's own token")
		return nil, false
	}
	return a, true
}

// apiActivityOf loads the path's activity for an API call.
func (s *Server) apiActivityOf(c *gin.Context, a *apiAccess) (*store.Activity, bool) {
	act, err := s.activityIn(c, a.Course)
	if errors.Is(err, store.ErrNotFound) {
		apiError(c, http.StatusNotFound, "no such activity in this course")
		return nil, false
	}
	if err != nil {
		s.log.Error("failed to load activity", "error", err)
		apiError(c, http.StatusInternalServerError, "loading the activity failed")
		return nil, false
	}
	return act, true
}

func isoOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

// apiActivities lists the course's activities with their hand-in settings.
func (s *Server) apiActivities(c *gin.Context) {
	a, ok := s.apiCourse(c, ScopeHandins, ScopeGrades)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	var acts []store.Activity
	if err := s.DB.WithContext(ctx).Where("course_id = ?", a.Course.ID).Order("id").Find(&acts).Error; err != nil {
		s.log.Error("failed to list activities", "error", err)
		apiError(c, http.StatusInternalServerError, "listing activities failed")
		return
	}
	out := make([]gin.H, 0, len(acts))
	now := time.Now()
	for _, act := range acts {
		as, err := s.Grades.Assignment(ctx, act.ID)
		if err != nil {
			s.log.Error("failed to load assignment", "error", err)
			apiError(c, http.StatusInternalServerError, "loading activities failed")
			return
		}
		out = append(out, gin.H{"id": act.ID, "title": act.Title, "resource_link_id": act.ResourceLinkID,
			"due_at": isoOrNil(as.DueAt), "lock_at_due": as.LockAtDue, "closed": handin.Locked(as, now),
			"score_maximum": as.ScoreMaximum})
	}
	c.JSON(http.StatusOK, gin.H{"course": a.Course.Slug, "activities": out})
}

// apiGradeJSON is a roster row in the API.
func apiGradeJSON(r grade.Row) gin.H {
	st := grade.Describe(r.Grade, r.Delivery)
	out := gin.H{"user": r.User.Name, "name": r.User.DisplayName, "role": r.Role, "score": nil, "maximum": nil,
		"comment": "", "version": 0, "status": st.State, "status_detail": st.Detail, "code": st.Code,
		"handins": r.Handins, "handed_in_at": nil}
	if g := r.Grade; g != nil {
		if g.Score != nil {
			out["score"] = *g.Score
		}
		out["maximum"], out["comment"], out["version"] = g.Maximum, g.Comment, g.Version
		out["graded_at"] = g.Timestamp.UTC().Format(time.RFC3339)
	}
	if r.Handin != nil {
		out["handed_in_at"] = r.Handin.CreatedAt.UTC().Format(time.RFC3339)
	}
	return out
}

// apiGrades lists the activity's roster with grades and delivery states.
func (s *Server) apiGrades(c *gin.Context) {
	a, ok := s.apiCourse(c, ScopeGrades)
	if !ok {
		return
	}
	if !a.teacher() {
		apiError(c, http.StatusForbidden, "only instructors of the course see its grades")
		return
	}
	act, ok := s.apiActivityOf(c, a)
	if !ok {
		return
	}
	rows, err := s.Grades.Roster(c.Request.Context(), *act)
	if err != nil {
		s.log.Error("failed to load roster", "error", err)
		apiError(c, http.StatusInternalServerError, "loading grades failed")
		return
	}
	out := make([]gin.H, 0, len(rows))
	for _, r := range rows {
		out = append(out, apiGradeJSON(r))
	}
	c.JSON(http.StatusOK, gin.H{"activity": act.ID, "grades": out})
}

// apiGradeInput is one grade an autograder posts.
type apiGradeInput struct {
	User string `json:"user"`
	// Score is null to clear the grade.
	Score *float64 `json:"score"`
	// Maximum is left out (or null) to keep the grade's maximum (the
	// activity's for a new grade); 0 or less is an error.
	Maximum *float64 `json:"maximum"`
	// Comment is left out to keep the grade's comment.
	Comment *string `json:"comment"`
}

// maxAPIBody bounds a posted JSON body.
const maxAPIBody = 8 << 20

// apiSetGrades stores grades, all or none: {"grades": [{"user": "alice",
// "score": 7, "maximum": 10, "comment": "..."}]}. It answers with what
// changed; changed grades are queued for the LMS.
func (s *Server) apiSetGrades(c *gin.Context) {
	a, act, ok := s.apiGrader(c)
	if !ok {
		return
	}
	var body struct {
		Grades []apiGradeInput `json:"grades"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		apiError(c, http.StatusBadRequest, "the body must be JSON: {\"grades\": [{\"user\": ..., \"score\": ...}]}: "+err.Error())
		return
	}
	users, err := s.courseUsers(c, a.Course)
	if err != nil {
		s.log.Error("failed to load course members", "error", err)
		apiError(c, http.StatusInternalServerError, "loading the course failed")
		return
	}
	entries := make([]grade.Entry, 0, len(body.Grades))
	for _, g := range body.Grades {
		id, ok := users[g.User]
		if !ok {
			apiError(c, http.StatusBadRequest, strconv.Quote(g.User)+" is not in this course; nothing was saved")
			return
		}
		e := grade.Entry{UserID: id, Score: g.Score, KeepComment: g.Comment == nil}
		if g.Maximum != nil {
			if *g.Maximum <= 0 {
				apiError(c, http.StatusBadRequest, "the maximum of "+strconv.Quote(g.User)+
					" must be a positive number (leave it out to keep the grade's maximum); nothing was saved")
				return
			}
			e.Maximum = *g.Maximum
		}
		if g.Comment != nil {
			e.Comment = *g.Comment
		}
		entries = append(entries, e)
	}
	changes, err := s.Grades.Set(c.Request.Context(), act.ID, entries, "api", a.User.Name)
	var ie *grade.InputError
	if errors.As(err, &ie) {
		apiError(c, http.StatusBadRequest, ie.Msg+" Nothing was saved.")
		return
	}
	if err != nil {
		s.log.Error("failed to save grades", "error", err)
		apiError(c, http.StatusInternalServerError, "saving grades failed")
		return
	}
	out := make([]gin.H, 0, len(changes))
	n := 0
	for i, ch := range changes {
		if ch.Changed {
			n++
		}
		out = append(out, gin.H{"user": body.Grades[i].User, "changed": ch.Changed, "version": ch.Version})
	}
	s.logger(c).Info("saved grades", "user", a.User.Name, "course", a.Course.Slug, "activity_id", act.ID,
		"changed", n, "source", "api")
	c.JSON(http.StatusOK, gin.H{"changed": n, "grades": out})
}

// apiRetryGrades queues grades again: {"users": [...]}, or every failed
// and waiting grade of the activity with an empty body.
func (s *Server) apiRetryGrades(c *gin.Context) {
	a, act, ok := s.apiGrader(c)
	if !ok {
		return
	}
	var body struct {
		Users []string `json:"users"`
	}
	if c.Request.ContentLength != 0 {
		if err := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxAPIBody)).Decode(&body); err != nil {
			apiError(c, http.StatusBadRequest, "the body must be JSON: {\"users\": [...]}")
			return
		}
	}
	users, err := s.courseUsers(c, a.Course)
	if err != nil {
		s.log.Error("failed to load course members", "error", err)
		apiError(c, http.StatusInternalServerError, "loading the course failed")
		return
	}
	var ids []uint
	for _, name := range body.Users {
		id, ok := users[name]
		if !ok {
			apiError(c, http.StatusBadRequest, strconv.Quote(name)+" is not in this course")
			return
		}
		ids = append(ids, id)
	}
	n, err := s.Grades.Retry(c.Request.Context(), act.ID, ids)
	if err != nil {
		s.log.Error("failed to retry grades", "error", err)
		apiError(c, http.StatusInternalServerError, "queueing grades failed")
		return
	}
	c.JSON(http.StatusOK, gin.H{"queued": n})
}

func apiHandinJSON(h store.Handin, user string) gin.H {
	return gin.H{"id": h.ID, "user": user, "created_at": h.CreatedAt.UTC().Format(time.RFC3339), "path": h.Path,
		"files": h.Files, "bytes": h.Bytes, "source": h.Source}
}

// apiHandins lists hand-ins: all of the activity's for instructors, the
// caller's own for students.
func (s *Server) apiHandins(c *gin.Context) {
	a, ok := s.apiCourse(c, ScopeHandins)
	if !ok {
		return
	}
	act, ok := s.apiActivityOf(c, a)
	if !ok {
		return
	}
	var only uint
	if !a.teacher() || a.Token.Kind == store.TokenServer {
		only = a.User.ID
	}
	hs, err := s.Handins.List(c.Request.Context(), act.ID, only)
	if err != nil {
		s.log.Error("failed to list hand-ins", "error", err)
		apiError(c, http.StatusInternalServerError, "listing hand-ins failed")
		return
	}
	ids := make([]uint, 0, len(hs))
	for _, h := range hs {
		ids = append(ids, h.UserID)
	}
	names, err := s.usersByID(c, ids)
	if err != nil {
		s.log.Error("failed to load users", "error", err)
		apiError(c, http.StatusInternalServerError, "listing hand-ins failed")
		return
	}
	out := make([]gin.H, 0, len(hs))
	for _, h := range hs {
		out = append(out, apiHandinJSON(h, names[h.UserID].Name))
	}
	c.JSON(http.StatusOK, gin.H{"activity": act.ID, "handins": out})
}

// apiHandIn hands in files of the caller's home folder: {"paths":
// ["lab1.ipynb", "data/"]}. From inside a notebook the server's own token
// (JUPYTERHUB_API_TOKEN) authenticates it.
func (s *Server) apiHandIn(c *gin.Context) {
	a, ok := s.apiCourse(c, ScopeHandins)
	if !ok {
		return
	}
	act, ok := s.apiActivityOf(c, a)
	if !ok {
		return
	}
	var body struct {
		Paths []string `json:"paths"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10)).Decode(&body); err != nil {
		apiError(c, http.StatusBadRequest, "the body must be JSON: {\"paths\": [\"file or folder\", ...]}")
		return
	}
	h, err := s.Handins.HandIn(c.Request.Context(), handin.Request{User: *a.User, Course: a.Course, Activity: *act,
		Paths: body.Paths, Source: "api"})
	var he *handin.Error
	if errors.As(err, &he) {
		status := http.StatusBadRequest
		if he.Closed {
			status = http.StatusForbidden
		}
		apiError(c, status, he.Msg)
		return
	}
	if err != nil {
		s.log.Error("failed to hand in", "user", a.User.Name, "error", err)
		apiError(c, http.StatusInternalServerError, "handing in failed")
		return
	}
	c.JSON(http.StatusCreated, apiHandinJSON(*h, a.User.Name))
}

// apiGrader authenticates a grading call: a token with the grades scope of
// an instructor of the course, and the activity named in the path.
func (s *Server) apiGrader(c *gin.Context) (*apiAccess, *store.Activity, bool) {
	a, ok := s.apiCourse(c, ScopeGrades)
	if !ok {
		return nil, nil, false
	}
	if !a.teacher() {
		apiError(c, http.StatusForbidden, "only instructors of the course may grade")
		return nil, nil, false
	}
	act, ok := s.apiActivityOf(c, a)
	if !ok {
		return nil, nil, false
	}
	return a, act, true
}
