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

	"github.com/labhub/labhub/config"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/store"
)

// environmentRoutes adds the instructor's course pages, the admin console
// for the image catalog and the images API.
func (s *Server) environmentRoutes(g *gin.RouterGroup) {
	g.GET("/hub/courses/:course", func(c *gin.Context) {
		c.Redirect(http.StatusFound, s.coursePath(c.Param("course")))
	})
	g.GET("/hub/courses/:course/", s.coursePage)
	g.POST("/hub/courses/:course/settings", s.courseSettings)
	g.POST("/hub/courses/:course/restart-all", s.courseRestartAll)
	g.POST("/hub/courses/:course/servers/:id/:action", s.courseServerAction)
	g.POST("/hub/courses/:course/materials", s.courseUpload)
	g.GET("/hub/courses/:course/materials.zip", s.courseDownload)
	g.POST("/hub/courses/:course/end", s.courseEnd)
	g.POST("/hub/courses/:course/reopen", s.courseReopen)
	g.GET("/hub/courses/:course/export.zip", s.courseExportAll)
	g.GET("/hub/courses/:course/export/:user", s.courseExportStudent)
	g.POST("/hub/courses/:course/delete", s.courseDelete)
	s.adminRoutes(g)
	s.imageAPIRoutes(g)
}

func (s *Server) coursePath(slug string) string {
	return s.base + "hub/courses/" + url.PathEscape(slug) + "/"
}

// chooseImageFirst sends an instructor whose course has no image yet to the
// course page to choose one, and reports whether it did.
func (s *Server) chooseImageFirst(c *gin.Context, req course.StartRequest) bool {
	if !course.IsTeacher(req.Role) {
		return false
	}
	need, err := s.Manager.NeedsImageChoice(c.Request.Context(), req.Course, req.Activity)
	if err != nil {
		s.internalError(c, "check course image", err)
		return true
	}
	if need {
		c.Redirect(http.StatusSeeOther, s.coursePath(req.Course.Slug)+"?choose=1")
	}
	return need
}

// waiting tells someone why their server cannot start yet.
func (s *Server) waiting(c *gin.Context, u *store.User, crs store.Course, msg string) {
	data := map[string]any{"Title": "Not ready yet", "Base": s.base, "User": u.Name,
		"Heading": "Your server cannot start yet", "Message": msg}
	if crs.EndedAt != nil {
		data["Title"], data["Heading"] = "Course ended", "This course has ended"
	}
	var e store.Enrollment
	if s.DB.WithContext(c.Request.Context()).Where("course_id = ? AND user_id = ?", crs.ID, u.ID).First(&e).Error == nil &&
		course.IsTeacher(e.Role) {
		data["Link"], data["LinkText"] = s.coursePath(crs.Slug), "Open the course page"
	}
	s.render(c, http.StatusConflict, "message.html", data)
}

// notices are the messages a course page shows after an action; the query
// names one, so nothing a request says is echoed.
var notices = map[string]string{
	"saved":     "Settings saved. They apply to each server at its next start; restart servers to apply them now.",
	"restarted": "Running student servers are restarting with the course's settings.",
	"uploaded":  "Files uploaded to the course files.",
	"done":      "Done.",
	"ended":     "The course has ended: all servers are stopped and students cannot start new ones.",
	"reopened":  "The course is open again.",
}

type serverRow struct {
	course.ServerInfo
	LastActivity, Memory, OOM, Started string
	ActionURL, ExportURL               string
}

type materialRow struct {
	Path, Size string
	Dir        bool
}

// coursePage is the instructor's page of a course.
func (s *Server) coursePage(c *gin.Context) {
	a, ok := s.requireTeacher(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	env, err := s.Manager.Environment(ctx, a.Course)
	if err != nil {
		s.internalError(c, "load course environment", err)
		return
	}
	catalog, err := s.Manager.Catalog(ctx)
	if err != nil {
		s.internalError(c, "load catalog", err)
		return
	}
	servers, err := s.Manager.CourseServers(ctx, a.Course)
	if err != nil {
		s.internalError(c, "list servers", err)
		return
	}
	base := s.coursePath(a.Course.Slug)
	rows := make([]serverRow, 0, len(servers))
	for _, sv := range servers {
		r := serverRow{ServerInfo: sv, ActionURL: base + "servers/" + strconv.FormatUint(uint64(sv.ID), 10) + "/",
			ExportURL: base + "export/" + url.PathEscape(sv.UserName)}
		if sv.Pending {
			r.State = store.StateStarting
		}
		r.LastActivity = when(sv.LastActivity)
		if sv.Memory > 0 {
			r.Memory = fmt.Sprintf("%.0f MiB", float64(sv.Memory)/(1<<20))
		}
		if sv.OOMKills > 0 {
			r.OOM = fmt.Sprintf("Killed %d× for going over the memory limit, last %s", sv.OOMKills, when(sv.LastOOMAt))
		}
		rows = append(rows, r)
	}
	var materials []materialRow
	files, truncated, matErr := s.Manager.ListMaterials(ctx, a.Course)
	for _, f := range files {
		m := materialRow{Path: f.Path, Dir: f.Dir}
		if !f.Dir {
			m.Size = humanBytes(f.Size)
		}
		materials = append(materials, m)
	}
	materialsNote := ""
	var ie *course.InputError
	switch {
	case errors.As(matErr, &ie):
		materialsNote = ie.Msg
	case matErr != nil:
		s.log.Warn("failed to list course files", "course", a.Course.Slug, "error", matErr)
		materialsNote = "The course files cannot be listed right now."
	case truncated:
		materialsNote = "Only the first 500 entries are listed; download the files to see all."
	}
	audit, err := s.Manager.AuditLog(ctx, &a.Course.ID, 20)
	if err != nil {
		s.internalError(c, "read audit log", err)
		return
	}
	// The form shows the limits in effect: a course's choice above a
	// maximum the administrator lowered since is shown as the maximum.
	mem, cpu := "", ""
	if a.Course.MemLimit > 0 {
		mem = course.FormatBytes(env.Limits.Mem)
	}
	if a.Course.NanoCPUs > 0 {
		cpu = course.FormatCPU(env.Limits.NanoCPUs)
	}
	idle := "default"
	switch {
	case a.Course.IdleTimeout < 0:
		idle = "never"
	case a.Course.IdleTimeout > 0:
		idle = strconv.FormatInt(a.Course.IdleTimeout/60, 10)
	}
	network := a.Course.Network
	if network == "" {
		network = store.NetworkHubOnly
	}
	s.render(c, http.StatusOK, "course.html", map[string]any{
		"Title": a.Course.Title, "Base": s.base, "User": a.User.Name, "Course": a.Course, "CSRF": s.csrfToken(a.Session),
		"Path": base, "Env": env, "Catalog": catalog, "DefaultImage": s.Manager.DefaultImage(),
		"AllowOutside": s.Manager.AllowOutside(), "Mem": mem, "CPU": cpu, "Idle": idle, "Network": network,
		"MemDefault": course.FormatBytes(env.Bounds.MemDefault), "MemMax": course.FormatBytes(env.Bounds.MemMax),
		"CPUDefault": course.FormatCPU(env.Bounds.CPUDefault), "CPUMax": course.FormatCPU(env.Bounds.CPUMax),
		"SiteIdle": s.siteIdle(), "Servers": rows, "Materials": materials, "MaterialsNote": materialsNote,
		"Audit": auditRows(audit), "Choose": c.Query("choose") == "1" && !env.Chosen,
		"Notice": notices[c.Query("notice")], "Ended": a.Course.EndedAt != nil, "MyServer": s.myServerURL(a),
	})
}

// myServerURL is where the instructor opens their own server of the course.
func (s *Server) myServerURL(a *courseAccess) string {
	return s.Manager.Prefix(a.User.Name, a.Course.Slug)
}

func (s *Server) siteIdle() string {
	if d := s.Manager.SiteIdleTimeout(); d > 0 {
		return d.String()
	}
	return "never"
}

type auditRow struct {
	When, Actor, Action, Subject, Detail string
}

func auditRows(es []store.AuditEntry) []auditRow {
	out := make([]auditRow, len(es))
	for i, e := range es {
		out[i] = auditRow{When: e.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"), Actor: e.Actor, Action: e.Action,
			Subject: e.Subject, Detail: e.Detail}
	}
	return out
}

func when(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// teacherPost checks a course form post: the user teaches the course and the
// form carries the session's token.
func (s *Server) teacherPost(c *gin.Context) (*courseAccess, bool) {
	a, ok := s.requireTeacher(c)
	if !ok {
		return nil, false
	}
	if !s.csrfForm(c, a.Session) {
		return nil, false
	}
	return a, true
}

// done sends the browser back to the course page with a notice.
func (s *Server) done(c *gin.Context, a *courseAccess, notice string) {
	c.Redirect(http.StatusSeeOther, s.coursePath(a.Course.Slug)+"?notice="+notice)
}

// refuse shows why a course action could not be carried out, when err is
// the person's to fix, and reports whether it did.
func (s *Server) refuse(c *gin.Context, a *courseAccess, err error) bool {
	var ie *course.InputError
	if !errors.As(err, &ie) {
		return false
	}
	s.fail(c, problem{Status: http.StatusBadRequest, Heading: "That did not work", Message: ie.Msg,
		Action: "Go back to the course page, change what the message says, and try again.", Code: "invalid_input"})
	return true
}

func (s *Server) courseSettings(c *gin.Context) {
	a, ok := s.teacherPost(c)
	if !ok {
		return
	}
	set, err := parseSettings(c)
	if err == nil {
		err = s.Manager.SaveSettings(c.Request.Context(), *a.User, &a.Course, set)
	}
	if s.refuse(c, a, err) {
		return
	}
	if err != nil {
		s.internalError(c, "save course settings", err)
		return
	}
	s.done(c, a, "saved")
}

// maxIdleMinutes bounds the idle timeout a form may ask for: a week.
const maxIdleMinutes = 7 * 24 * 60

// parseSettings reads the settings form.
func parseSettings(c *gin.Context) (course.Settings, error) {
	var set course.Settings
	var errs []string
	if v := c.PostForm("image"); v != "" {
		id, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			errs = append(errs, "pick an image from the list")
		}
		u := uint(id)
		set.ImageID = &u
	}
	if v := strings.TrimSpace(c.PostForm("mem")); v != "" {
		n, err := config.ParseBytes(v)
		if err != nil {
			errs = append(errs, "write memory like 512M or 2G")
		}
		set.MemLimit = n
	}
	if v := strings.TrimSpace(c.PostForm("cpu")); v != "" {
		n, err := config.ParseCores(v)
		if err != nil {
			errs = append(errs, "write CPU as a number of cores such as 1 or 0.5")
		}
		set.NanoCPUs = n
	}
	switch v := c.PostForm("idle"); v {
	case "", "default":
	case "never":
		set.IdleTimeout = -1
	default:
		m, err := strconv.Atoi(v)
		if err != nil || m <= 0 || m > maxIdleMinutes {
			errs = append(errs, "pick an idle timeout from the list")
			m = 0
		}
		set.IdleTimeout = time.Duration(m) * time.Minute
	}
	set.Network = c.PostForm("network")
	if len(errs) > 0 {
		msg := strings.Join(errs, "; ")
		return set, &course.InputError{Msg: strings.ToUpper(msg[:1]) + msg[1:] + "."}
	}
	return set, nil
}

func (s *Server) courseRestartAll(c *gin.Context) {
	a, ok := s.teacherPost(c)
	if !ok {
		return
	}
	if _, err := s.Manager.RestartAll(c.Request.Context(), *a.User, a.Course); err != nil {
		s.internalError(c, "restart servers", err)
		return
	}
	s.done(c, a, "restarted")
}

func (s *Server) courseServerAction(c *gin.Context) {
	a, ok := s.teacherPost(c)
	if !ok {
		return
	}
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil {
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "No such server",
			Message: "That server is not part of this course.", Code: "no_server"})
		return
	}
	ctx := c.Request.Context()
	action := c.Param("action")
	if action == "help" {
		prefix, err := s.Manager.OpenHelp(ctx, *a.User, a.Course, uint(id))
		switch {
		case errors.Is(err, store.ErrNotFound):
			s.fail(c, problem{Status: http.StatusNotFound, Heading: "No such server",
				Message: "That server is not part of this course.", Code: "no_server"})
		case s.refuse(c, a, err):
		case err != nil:
			s.internalError(c, "open server for help", err)
		default:
			s.logger(c).Info("opened server for help", "helper", a.User.Name, "course", a.Course.Slug, "server_id", id)
			c.Redirect(http.StatusSeeOther, prefix)
		}
		return
	}
	err = s.Manager.Act(ctx, *a.User, a.Course, uint(id), course.ServerAction(action))
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "No such server",
			Message: "That server is not part of this course.", Code: "no_server"})
	case s.refuse(c, a, err):
	case err != nil:
		s.internalError(c, "act on server", err)
	default:
		s.done(c, a, "done")
	}
}

// maxUpload bounds one upload of course files.
const maxUpload = 1 << 30

func (s *Server) courseUpload(c *gin.Context) {
	limitBody(c, maxUpload)
	a, ok := s.teacherPost(c)
	if !ok {
		return
	}
	form, err := c.MultipartForm()
	if err != nil {
		s.fail(c, problem{Status: http.StatusBadRequest, Heading: "Upload failed",
			Message: "The upload did not arrive whole; uploads may be at most 1 GiB.", Code: "bad_upload"})
		return
	}
	var ups []course.Upload
	for _, fh := range form.File["files"] {
		f, err := fh.Open()
		if err != nil {
			s.internalError(c, "open upload", err)
			return
		}
		defer f.Close()
		ups = append(ups, course.Upload{Name: fh.Filename, Size: fh.Size, Body: f})
	}
	err = s.Manager.UploadMaterials(c.Request.Context(), *a.User, a.Course, c.PostForm("dir"), ups)
	if s.refuse(c, a, err) {
		return
	}
	if err != nil {
		s.internalError(c, "upload course files", err)
		return
	}
	s.done(c, a, "uploaded")
}

func (s *Server) courseDownload(c *gin.Context) {
	a, ok := s.requireTeacher(c)
	if !ok {
		return
	}
	s.sendDownload(c, "application/zip", a.Course.Slug+"-files.zip", func(w io.Writer) error {
		return s.Manager.DownloadMaterials(c.Request.Context(), a.Course, w)
	}, "failed to send course files", "course", a.Course.Slug)
}

// templateFuncs are the functions templates may call.
var templateFuncs = map[string]any{
	// deref reads a *uint (a course's image id).
	"deref": func(p *uint) uint {
		if p == nil {
			return 0
		}
		return *p
	},
	// list is the idle timeouts, in minutes, the course page offers.
	"list": func() []string { return []string{"15", "30", "60", "120", "240", "480"} },
	// bytes writes a byte count as the forms take it (2G, 512M).
	"bytes": course.FormatBytes,
}

type taughtCourse struct{ Title, URL string }

// teaching lists the courses u teaches, for the home page.
func (s *Server) teaching(c *gin.Context, u *store.User) []taughtCourse {
	var rows []store.Course
	err := s.DB.WithContext(c.Request.Context()).Table("courses").Select("courses.*").
		Joins("JOIN enrollments ON enrollments.course_id = courses.id").
		Where("enrollments.user_id = ? AND enrollments.role IN ?", u.ID,
			[]string{store.RoleInstructor, store.RoleAdministrator}).Order("courses.title").Scan(&rows).Error
	if err != nil {
		s.log.Error("failed to list taught courses", "user", u.Name, "error", err)
		return nil
	}
	out := make([]taughtCourse, len(rows))
	for i, r := range rows {
		title := r.Title
		if title == "" {
			title = r.Slug
		}
		out[i] = taughtCourse{Title: title, URL: s.coursePath(r.Slug)}
	}
	return out
}
