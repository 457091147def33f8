package web

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/grade"
	"github.com/labhub/labhub/handin"
	"github.com/labhub/labhub/store"
)

// handinRow is a hand-in as pages list it.
type handinRow struct {
	ID                 uint
	User, At, URL      string
	Files              int
	Size, Paths        string
	Latest             bool
	DisplayName, Extra string
}

func formatSize(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d kB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

func (s *Server) handinRows(acc *courseAccess, act *store.Activity, hs []store.Handin, names map[uint]store.User) []handinRow {
	base := s.activityPath(acc.Course, *act)
	latest := map[uint]uint{}
	for _, h := range hs {
		latest[h.UserID] = h.ID
	}
	out := make([]handinRow, 0, len(hs))
	for i := len(hs) - 1; i >= 0; i-- {
		h := hs[i]
		u := names[h.UserID]
		out = append(out, handinRow{ID: h.ID, User: u.Name, DisplayName: u.DisplayName, At: formatTime(h.CreatedAt),
			URL: base + "/handins/" + strconv.FormatUint(uint64(h.ID), 10), Files: h.Files, Size: formatSize(h.Bytes),
			Paths: strings.ReplaceAll(h.Paths, "\n", ", "), Latest: latest[h.UserID] == h.ID})
	}
	return out
}

func (s *Server) usersByID(c *gin.Context, ids []uint) (map[uint]store.User, error) {
	out := map[uint]store.User{}
	if len(ids) == 0 {
		return out, nil
	}
	var us []store.User
	if err := s.DB.WithContext(c.Request.Context()).Where("id IN ?", ids).Find(&us).Error; err != nil {
		return nil, err
	}
	for _, u := range us {
		out[u.ID] = u
	}
	return out, nil
}

// handinsPage lists every hand-in of the activity, newest first.
func (s *Server) handinsPage(c *gin.Context) {
	acc, act, ok := s.teacherActivity(c)
	if !ok {
		return
	}
	hs, err := s.Handins.List(c.Request.Context(), act.ID, 0)
	if err != nil {
		s.internalError(c, "list hand-ins", err)
		return
	}
	ids := make([]uint, 0, len(hs))
	for _, h := range hs {
		ids = append(ids, h.UserID)
	}
	names, err := s.usersByID(c, ids)
	if err != nil {
		s.internalError(c, "load users", err)
		return
	}
	s.render(c, http.StatusOK, "handins.html", map[string]any{
		"Title": "Hand-ins", "Base": s.base, "User": acc.User.Name, "Course": courseTitle(acc.Course),
		"Activity": act.Title, "Path": s.activityPath(acc.Course, *act), "Handins": s.handinRows(acc, act, hs, names),
	})
}

// viewableHandin loads the hand-in of the path when the logged-in user may
// see it: an instructor of the course, or the student who handed it in.
func (s *Server) viewableHandin(c *gin.Context) (*courseAccess, *store.Activity, *store.Handin, bool) {
	acc, ok := s.requireMember(c)
	if !ok {
		return nil, nil, nil, false
	}
	act, ok := s.pageActivity(c, acc.Course)
	if !ok {
		return nil, nil, nil, false
	}
	id, err := strconv.ParseUint(c.Param("handin"), 10, 64)
	var h *store.Handin
	if err == nil {
		h, err = s.Handins.Get(c.Request.Context(), act.ID, uint(id))
	}
	if err != nil && !errors.Is(err, handin.ErrNotFound) && !errors.Is(err, strconv.ErrSyntax) &&
		!errors.Is(err, strconv.ErrRange) {
		s.internalError(c, "load hand-in", err)
		return nil, nil, nil, false
	}
	if h == nil || !canGrade(acc) && h.UserID != acc.User.ID {
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "No such hand-in",
			Message: "There is no hand-in at this address that you may see.", Code: "no_handin"})
		return nil, nil, nil, false
	}
	return acc, act, h, true
}

type handinFileRow struct {
	Path, Size, Modified, URL string
	Dir                       bool
	Depth                     int
}

// handinPage lists the files of one hand-in.
func (s *Server) handinPage(c *gin.Context) {
	acc, act, h, ok := s.viewableHandin(c)
	if !ok {
		return
	}
	files, err := s.Handins.Files(c.Request.Context(), acc.Course, *h)
	if err != nil {
		s.internalError(c, "list hand-in files", err)
		return
	}
	names, err := s.usersByID(c, []uint{h.UserID})
	if err != nil {
		s.internalError(c, "load user", err)
		return
	}
	self := s.activityPath(acc.Course, *act) + "/handins/" + strconv.FormatUint(uint64(h.ID), 10)
	var rows []handinFileRow
	for _, f := range files {
		r := handinFileRow{Path: f.Path, Dir: f.Dir, Modified: formatTime(f.ModTime), Depth: strings.Count(f.Path, "/")}
		if !f.Dir {
			r.Size = formatSize(f.Size)
			r.URL = self + "/files/" + escapePath(f.Path)
		}
		rows = append(rows, r)
	}
	back := s.activityPath(acc.Course, *act) + "/handin"
	if canGrade(acc) {
		back = s.activityPath(acc.Course, *act) + "/grades"
	}
	s.render(c, http.StatusOK, "handin-files.html", map[string]any{
		"Title": "Hand-in", "Base": s.base, "User": acc.User.Name, "Course": courseTitle(acc.Course),
		"Activity": act.Title, "Owner": names[h.UserID].Name, "At": formatTime(h.CreatedAt), "Files": rows,
		"Back": back, "Folder": "handins/" + h.Path, "Teacher": canGrade(acc),
	})
}

// escapePath escapes each element of a slash-separated path.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// handinFile downloads one file of a hand-in. Whatever the file holds, it
// is never rendered on the hub's origin: it comes as an attachment, with
// the content type unsniffable and scripts sandboxed.
func (s *Server) handinFile(c *gin.Context) {
	acc, _, h, ok := s.viewableHandin(c)
	if !ok {
		return
	}
	rel := strings.TrimPrefix(c.Param("file"), "/")
	rc, size, err := s.Handins.Open(c.Request.Context(), acc.Course, *h, rel)
	if errors.Is(err, handin.ErrNotFound) {
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "No such file",
			Message: "This hand-in has no file at this address.", Code: "no_file"})
		return
	}
	if err != nil {
		s.internalError(c, "open hand-in file", err)
		return
	}
	defer rc.Close()
	c.Header("Content-Type", "application/octet-stream")
	c.Header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(rel)}))
	c.Header("Content-Security-Policy", "sandbox; default-src 'none'")
	c.Header("Content-Length", strconv.FormatInt(size, 10))
	c.Header("Cache-Control", "private, no-store")
	c.Status(http.StatusOK)
	if _, err := io.Copy(c.Writer, rc); err != nil {
		s.log.Debug("hand-in download ended early", "handin_id", h.ID, "error", err)
	}
}

// handinForm is a student's page of an activity: the due date, a form to
// hand in, and their earlier hand-ins.
//
// TODO: a file browser of the home folder; students type the paths.
func (s *Server) handinForm(c *gin.Context) {
	acc, ok := s.requireMember(c)
	if !ok {
		return
	}
	act, ok := s.pageActivity(c, acc.Course)
	if !ok {
		return
	}
	notice := ""
	if c.Query("done") != "" {
		notice = "Handed in. Your files were copied; later changes to them do not affect this hand-in."
	}
	s.renderHandin(c, acc, act, http.StatusOK, notice, "", "")
}

func (s *Server) renderHandin(c *gin.Context, acc *courseAccess, act *store.Activity, status int, notice, problemMsg,
	paths string) {
	ctx := c.Request.Context()
	a, err := s.Grades.Assignment(ctx, act.ID)
	if err != nil {
		s.internalError(c, "load assignment", err)
		return
	}
	hs, err := s.Handins.List(ctx, act.ID, acc.User.ID)
	if err != nil {
		s.internalError(c, "list hand-ins", err)
		return
	}
	rows := s.handinRows(acc, act, hs, map[uint]store.User{acc.User.ID: *acc.User})
	var g store.Grade
	score := ""
	if s.DB.WithContext(ctx).Where("activity_id = ? AND user_id = ?", act.ID, acc.User.ID).First(&g).Error == nil &&
		g.Score != nil {
		score = grade.FormatScore(*g.Score) + " / " + grade.FormatScore(g.Maximum)
	}
	api := "courses/" + url.PathEscape(acc.Course.Slug) + "/activities/" + strconv.FormatUint(uint64(act.ID), 10) +
		"/handins"
	s.render(c, status, "handin.html", map[string]any{
		"Title": "Hand in · " + act.Title, "Base": s.base, "User": acc.User.Name, "CSRF": s.csrfToken(acc.Session),
		"Course": courseTitle(acc.Course), "Activity": act.Title, "Path": s.activityPath(acc.Course, *act),
		"Due": formatTimePtr(a.DueAt), "Closed": handin.Locked(a, time.Now()), "Lock": a.LockAtDue,
		"Handins": rows, "Notice": notice, "Problem": problemMsg, "Paths": paths, "Score": score,
		"Comment": g.Comment, "APIRel": api, "Teacher": canGrade(acc),
	})
}

// handIn hands in the paths of the form (field paths, one a line).
func (s *Server) handIn(c *gin.Context) {
	acc, ok := s.requireMember(c)
	if !ok {
		return
	}
	if !s.csrfForm(c, acc.Session) {
		return
	}
	act, ok := s.pageActivity(c, acc.Course)
	if !ok {
		return
	}
	paths := c.PostForm("paths")
	h, err := s.Handins.HandIn(c.Request.Context(), handin.Request{User: *acc.User, Course: acc.Course,
		Activity: *act, Paths: strings.Split(paths, "\n"), Source: "page"})
	var he *handin.Error
	if errors.As(err, &he) {
		s.renderHandin(c, acc, act, http.StatusBadRequest, "", he.Msg, paths)
		return
	}
	if err != nil {
		s.internalError(c, "hand in", err)
		return
	}
	c.Redirect(http.StatusSeeOther, s.activityPath(acc.Course, *act)+"/handin?done="+strconv.FormatUint(uint64(h.ID), 10))
}

// homeActivity is an activity on the home page.
type homeActivity struct {
	Course, Title, Due, URL string
	Teacher                 bool
}

// homeActivities lists the activities of the user's courses, with the page
// each leads to: grading for instructors, handing in for students.
func (s *Server) homeActivities(c *gin.Context, u *store.User) []homeActivity {
	if s.Grades == nil || s.Handins == nil {
		return nil
	}
	var rows []struct {
		store.Activity
		Slug, CourseTitle, Role string
		DueAt                   *time.Time
	}
	err := s.DB.WithContext(c.Request.Context()).Table("activities").
		Select("activities.*, courses.slug AS slug, courses.title AS course_title, enrollments.role AS role, "+
			"assignments.due_at AS due_at").
		Joins("JOIN courses ON courses.id = activities.course_id").
		Joins("JOIN enrollments ON enrollments.course_id = courses.id AND enrollments.user_id = ?", u.ID).
		Joins("LEFT JOIN assignments ON assignments.activity_id = activities.id").
		Order("courses.title, activities.title, activities.id").Scan(&rows).Error
	if err != nil {
		s.log.Error("failed to list activities", "user", u.Name, "error", err)
		return nil
	}
	out := make([]homeActivity, 0, len(rows))
	for _, r := range rows {
		crs := store.Course{Slug: r.Slug, Title: r.CourseTitle}
		title := r.Title
		if title == "" {
			title = "Activity " + r.ResourceLinkID
		}
		out = append(out, homeActivity{Course: courseTitle(crs), Title: title, Due: formatTimePtr(r.DueAt),
			URL: s.activityPath(crs, r.Activity), Teacher: course.IsTeacher(r.Role) || u.Admin})
	}
	return out
}
