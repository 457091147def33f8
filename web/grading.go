package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/grade"
	"github.com/labhub/labhub/handin"
	"github.com/labhub/labhub/store"
)

// gradingRoutes adds the hand-in and grading pages and Labhub's JSON API
// for grades and hand-ins. The API is served on the containers' listener
// too, so a notebook can hand in with its server's token.
func (s *Server) gradingRoutes() {
	if s.Grades == nil || s.Handins == nil {
		return
	}
	for _, e := range []*gin.Engine{s.public, s.api} {
		g := e.Group(strings.TrimSuffix(s.base, "/") + "/api/courses/:course")
		g.GET("/activities", s.apiActivities)
		g.GET("/activities/:activity/grades", s.apiGrades)
		g.POST("/activities/:activity/grades", s.apiSetGrades)
		g.POST("/activities/:activity/grades/retry", s.apiRetryGrades)
		g.GET("/activities/:activity/handins", s.apiHandins)
		g.POST("/activities/:activity/handins", s.apiHandIn)
	}
	g := s.public.Group(strings.TrimSuffix(s.base, "/") + "/hub/courses/:course/activities/:activity")
	g.GET("/grades", s.gradesPage)
	g.POST("/grades", s.saveGrades)
	g.GET("/grades.csv", s.exportGrades)
	g.POST("/grades/import", s.importGrades)
	g.POST("/grades/retry", s.retryGrades)
	g.POST("/settings", s.saveActivitySettings)
	g.GET("/handins", s.handinsPage)
	g.GET("/handins/:handin", s.handinPage)
	g.GET("/handins/:handin/files/*file", s.handinFile)
	g.GET("/handin", s.handinForm)
	g.POST("/handin", s.handIn)
}

// activityPath is the URL path of an activity's pages.
func (s *Server) activityPath(c store.Course, a store.Activity) string {
	return s.base + "hub/courses/" + url.PathEscape(c.Slug) + "/activities/" + strconv.FormatUint(uint64(a.ID), 10)
}

// activityIn loads the activity named by the :activity path parameter (its
// id) when it belongs to course c.
func (s *Server) activityIn(c *gin.Context, crs store.Course) (*store.Activity, error) {
	id, err := strconv.ParseUint(c.Param("activity"), 10, 64)
	if err != nil {
		return nil, store.ErrNotFound
	}
	var a store.Activity
	err = s.DB.WithContext(c.Request.Context()).Where("id = ? AND course_id = ?", id, crs.ID).First(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load activity: %w", err)
	}
	return &a, nil
}

// teacherActivity is requireTeacher plus the activity of the path.
func (s *Server) teacherActivity(c *gin.Context) (*courseAccess, *store.Activity, bool) {
	acc, ok := s.requireTeacher(c)
	if !ok {
		return nil, nil, false
	}
	a, ok := s.pageActivity(c, acc.Course)
	return acc, a, ok
}

// pageActivity loads the path's activity for a page, answering 404 when
// there is none.
func (s *Server) pageActivity(c *gin.Context, crs store.Course) (*store.Activity, bool) {
	a, err := s.activityIn(c, crs)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "No such activity",
			Message: "This course has no activity at this address.", Code: "no_activity"})
		return nil, false
	}
	if err != nil {
		s.internalError(c, "load activity", err)
		return nil, false
	}
	return a, true
}

// requireMember loads the course of the path when the logged-in user is
// enrolled in it (or a site administrator), with their role. Anyone else
// gets the 404 of a course that does not exist.
func (s *Server) requireMember(c *gin.Context) (*courseAccess, bool) {
	sess, u, ok := s.requireLogin(c)
	if !ok {
		return nil, false
	}
	acc := &courseAccess{Session: sess, User: u}
	db := s.DB.WithContext(c.Request.Context())
	err := db.Where("slug = ?", c.Param("course")).First(&acc.Course).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		s.internalError(c, "load course", err)
		return nil, false
	}
	if err == nil {
		var e store.Enrollment
		if db.Where("course_id = ? AND user_id = ?", acc.Course.ID, u.ID).First(&e).Error == nil {
			acc.Role = e.Role
		}
		if acc.Role != "" || u.Admin {
			return acc, true
		}
	}
	s.fail(c, problem{Status: http.StatusNotFound, Heading: "No such course",
		Message: "There is no course at this address that you take part in.", Code: "no_course"})
	return nil, false
}

// canGrade reports whether a course access has instructor rights.
func canGrade(acc *courseAccess) bool {
	return course.IsTeacher(acc.Role) || acc.User.Admin
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func formatTimePtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return formatTime(*t)
}

// gradeRow is one person on the grading page.
type gradeRow struct {
	ID                    uint
	Name, DisplayName     string
	Role                  string
	Score, Maximum        string
	Comment               string
	Handins               int
	HandinAt, HandinURL   string
	State, Label, Detail  string
	Retry                 bool
	GradedBy, GradeSource string
}

// gradesPage shows every student of the activity with their latest
// hand-in, score, comment and delivery state, and the activity's settings.
func (s *Server) gradesPage(c *gin.Context) {
	acc, act, ok := s.teacherActivity(c)
	if !ok {
		return
	}
	notice := ""
	number := func(k string) (int, bool) {
		n, err := strconv.Atoi(c.Query(k))
		return n, err == nil
	}
	if n, ok := number("saved"); ok {
		notice = fmt.Sprintf("%d grade(s) changed; changed grades are being sent to the LMS.", n)
	} else if n, ok := number("imported"); ok {
		notice = fmt.Sprintf("Import done: %d grade(s) changed; changed grades are being sent to the LMS.", n)
	} else if n, ok := number("retried"); ok {
		notice = fmt.Sprintf("%d grade(s) queued to be sent again.", n)
	} else if c.Query("settings") != "" {
		notice = "Settings saved."
	}
	s.renderGrades(c, acc, act, http.StatusOK, notice, "")
}

func (s *Server) renderGrades(c *gin.Context, acc *courseAccess, act *store.Activity, status int, notice, problemMsg string) {
	ctx := c.Request.Context()
	rows, err := s.Grades.Roster(ctx, *act)
	if err != nil {
		s.internalError(c, "load roster", err)
		return
	}
	a, err := s.Grades.Assignment(ctx, act.ID)
	if err != nil {
		s.internalError(c, "load assignment", err)
		return
	}
	base := s.activityPath(acc.Course, *act)
	counts := map[string]int{}
	var list []gradeRow
	for _, r := range rows {
		st := grade.Describe(r.Grade, r.Delivery)
		counts[st.State]++
		row := gradeRow{ID: r.User.ID, Name: r.User.Name, DisplayName: r.User.DisplayName, Role: r.Role,
			Maximum: grade.FormatNumber(a.ScoreMaximum), Handins: r.Handins,
			State: st.State, Label: st.Label, Detail: st.Detail, Retry: st.Retry}
		if g := r.Grade; g != nil {
			if g.Score != nil {
				row.Score = grade.FormatNumber(*g.Score)
			}
			row.Maximum, row.Comment = grade.FormatNumber(g.Maximum), g.Comment
			row.GradedBy, row.GradeSource = g.GradedBy, g.Source
		}
		if h := r.Handin; h != nil {
			row.HandinAt = formatTime(h.CreatedAt)
			row.HandinURL = base + "/handins/" + strconv.FormatUint(uint64(h.ID), 10)
		}
		list = append(list, row)
	}
	due := ""
	if a.DueAt != nil {
		due = a.DueAt.UTC().Format("2006-01-02T15:04")
	}
	title := act.Title
	if title == "" {
		title = "Activity " + act.ResourceLinkID
	}
	s.render(c, status, "grades.html", map[string]any{
		"Title": "Grades · " + title, "Base": s.base, "User": acc.User.Name, "CSRF": s.csrfToken(acc.Session),
		"Course": courseTitle(acc.Course), "Activity": title, "Path": base, "Rows": list, "Counts": counts,
		"Due": due, "DueText": formatTimePtr(a.DueAt), "Locked": a.LockAtDue,
		"Closed": handin.Locked(a, time.Now()), "ScoreMaximum": grade.FormatNumber(a.ScoreMaximum),
		"Notice": notice, "Problem": problemMsg,
	})
}

func courseTitle(c store.Course) string {
	if c.Title != "" {
		return c.Title
	}
	return c.Slug
}

// formTeacherActivity checks login, instructor rights, the activity and the
// form's CSRF token of a POST.
func (s *Server) formTeacherActivity(c *gin.Context) (*courseAccess, *store.Activity, bool) {
	acc, act, ok := s.teacherActivity(c)
	if !ok {
		return nil, nil, false
	}
	if !s.csrfForm(c, acc.Session) {
		return nil, nil, false
	}
	return acc, act, true
}

// saveGrades stores the scores and comments of the grading form: fields
// score_<user id>, comment_<user id> and maximum_<user id> for each row.
func (s *Server) saveGrades(c *gin.Context) {
	acc, act, ok := s.formTeacherActivity(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	rows, err := s.Grades.Roster(ctx, *act)
	if err != nil {
		s.internalError(c, "load roster", err)
		return
	}
	var entries []grade.Entry
	for _, r := range rows {
		id := strconv.FormatUint(uint64(r.User.ID), 10)
		scoreText, posted := c.GetPostForm("score_" + id)
		if !posted {
			continue
		}
		comment, hasComment := c.GetPostForm("comment_" + id)
		e := grade.Entry{UserID: r.User.ID, Comment: comment, KeepComment: !hasComment}
		if v := strings.TrimSpace(scoreText); v != "" {
			f, err := strconv.ParseFloat(strings.Replace(v, ",", ".", 1), 64)
			if err != nil {
				s.renderGrades(c, acc, act, http.StatusBadRequest, "",
					fmt.Sprintf("The score of %s, %q, is not a number. Nothing was saved.", r.User.Name, v))
				return
			}
			e.Score = &f
		} else if r.Grade == nil {
			continue
		}
		if v := strings.TrimSpace(c.PostForm("maximum_" + id)); v != "" {
			f, err := strconv.ParseFloat(strings.Replace(v, ",", ".", 1), 64)
			if err != nil {
				s.renderGrades(c, acc, act, http.StatusBadRequest, "",
					fmt.Sprintf("The maximum of %s, %q, is not a number. Nothing was saved.", r.User.Name, v))
				return
			}
			// An empty field keeps the maximum; a typed 0 is a mistake,
			// not a request to keep it.
			if f <= 0 {
				s.renderGrades(c, acc, act, http.StatusBadRequest, "", fmt.Sprintf(
					"The maximum of %s, %q, must be a positive number (leave it empty to keep the current maximum). "+
						"Nothing was saved.", r.User.Name, v))
				return
			}
			e.Maximum = f
		}
		entries = append(entries, e)
	}
	changes, err := s.Grades.Set(ctx, act.ID, entries, "page", acc.User.Name)
	var ie *grade.InputError
	if errors.As(err, &ie) {
		s.renderGrades(c, acc, act, http.StatusBadRequest, "", ie.Msg+" Nothing was saved.")
		return
	}
	if err != nil {
		s.internalError(c, "save grades", err)
		return
	}
	n := 0
	for _, ch := range changes {
		if ch.Changed {
			n++
		}
	}
	s.logger(c).Info("saved grades", "user", acc.User.Name, "course", acc.Course.Slug, "activity_id", act.ID,
		"changed", n)
	c.Redirect(http.StatusSeeOther, s.activityPath(acc.Course, *act)+"/grades?saved="+strconv.Itoa(n))
}

// exportGrades downloads the roster with grades as CSV.
func (s *Server) exportGrades(c *gin.Context) {
	acc, act, ok := s.teacherActivity(c)
	if !ok {
		return
	}
	name := fmt.Sprintf("grades-%s-%d.csv", acc.Course.Slug, act.ID)
	s.sendDownload(c, "text/csv; charset=utf-8", name, func(w io.Writer) error {
		return s.Grades.ExportCSV(c.Request.Context(), *act, w)
	}, "failed to export grades", "course", acc.Course.Slug, "activity_id", act.ID)
}

// maxImportSize bounds an uploaded CSV file.
const maxImportSize = 5 << 20

// importGrades reads an uploaded CSV file (field "file") into the
// activity's grades, all or nothing.
func (s *Server) importGrades(c *gin.Context) {
	limitBody(c, maxImportSize)
	acc, act, ok := s.formTeacherActivity(c)
	if !ok {
		return
	}
	fh, err := c.FormFile("file")
	if err != nil {
		s.renderGrades(c, acc, act, http.StatusBadRequest, "", "Choose a CSV file (at most 5 MB) to import.")
		return
	}
	f, err := fh.Open()
	if err != nil {
		s.internalError(c, "open upload", err)
		return
	}
	defer f.Close()
	users, err := s.courseUsers(c, acc.Course)
	if err != nil {
		s.internalError(c, "load course members", err)
		return
	}
	entries, err := grade.ParseCSV(f, users)
	var ie *grade.InputError
	if errors.As(err, &ie) {
		s.renderGrades(c, acc, act, http.StatusBadRequest, "", ie.Msg)
		return
	}
	if err != nil {
		s.internalError(c, "read csv", err)
		return
	}
	changes, err := s.Grades.Set(c.Request.Context(), act.ID, entries, "csv", acc.User.Name)
	if errors.As(err, &ie) {
		s.renderGrades(c, acc, act, http.StatusBadRequest, "", ie.Msg+" Nothing was imported.")
		return
	}
	if err != nil {
		s.internalError(c, "import grades", err)
		return
	}
	n := 0
	for _, ch := range changes {
		if ch.Changed {
			n++
		}
	}
	s.logger(c).Info("imported grades", "user", acc.User.Name, "course", acc.Course.Slug, "activity_id", act.ID,
		"rows", len(entries), "changed", n)
	c.Redirect(http.StatusSeeOther, s.activityPath(acc.Course, *act)+"/grades?imported="+strconv.Itoa(n))
}

// courseUsers maps the usernames of a course's members to their ids.
func (s *Server) courseUsers(c *gin.Context, crs store.Course) (map[string]uint, error) {
	var rows []struct {
		ID   uint
		Name string
	}
	err := s.DB.WithContext(c.Request.Context()).Table("users").Select("users.id, users.name").
		Joins("JOIN enrollments ON enrollments.user_id = users.id").
		Where("enrollments.course_id = ?", crs.ID).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint, len(rows))
	for _, r := range rows {
		out[r.Name] = r.ID
	}
	return out, nil
}

// retryGrades queues grades again: one person's (field user) or every
// failed and waiting one.
func (s *Server) retryGrades(c *gin.Context) {
	acc, act, ok := s.formTeacherActivity(c)
	if !ok {
		return
	}
	var users []uint
	if name := c.PostForm("user"); name != "" {
		ids, err := s.courseUsers(c, acc.Course)
		if err != nil {
			s.internalError(c, "load course members", err)
			return
		}
		id, ok := ids[name]
		if !ok {
			s.renderGrades(c, acc, act, http.StatusBadRequest, "", name+" is not in this course.")
			return
		}
		users = []uint{id}
	}
	n, err := s.Grades.Retry(c.Request.Context(), act.ID, users)
	if err != nil {
		s.internalError(c, "retry grades", err)
		return
	}
	c.Redirect(http.StatusSeeOther, s.activityPath(acc.Course, *act)+"/grades?retried="+strconv.Itoa(n))
}

// saveActivitySettings stores the due date (UTC), the lock and the maximum
// score.
func (s *Server) saveActivitySettings(c *gin.Context) {
	acc, act, ok := s.formTeacherActivity(c)
	if !ok {
		return
	}
	st := grade.Settings{LockAtDue: c.PostForm("lock") != ""}
	if v := strings.TrimSpace(c.PostForm("due")); v != "" {
		t, err := time.Parse("2006-01-02T15:04", v)
		if err != nil {
			s.renderGrades(c, acc, act, http.StatusBadRequest, "", "The due date must look like 2026-03-01T23:59.")
			return
		}
		st.DueAt = &t
	}
	f, err := strconv.ParseFloat(strings.Replace(strings.TrimSpace(c.PostForm("maximum")), ",", ".", 1), 64)
	if err != nil {
		s.renderGrades(c, acc, act, http.StatusBadRequest, "", "The maximum score must be a number.")
		return
	}
	st.ScoreMaximum = f
	err = s.Grades.Configure(c.Request.Context(), act.ID, st)
	var ie *grade.InputError
	if errors.As(err, &ie) {
		s.renderGrades(c, acc, act, http.StatusBadRequest, "", ie.Msg)
		return
	}
	if err != nil {
		s.internalError(c, "save activity settings", err)
		return
	}
	c.Redirect(http.StatusSeeOther, s.activityPath(acc.Course, *act)+"/grades?settings=1")
}
