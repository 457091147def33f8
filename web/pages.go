package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/store"
)

func (s *Server) root(c *gin.Context) {
	c.Redirect(http.StatusFound, s.base+"hub/home")
}

// requireLogin returns the session and user, or answers with the login page
// (a 403 for a blocked user).
func (s *Server) requireLogin(c *gin.Context) (*store.Session, *store.User, bool) {
	sess, u, err := s.sessionOf(c.Request)
	if errors.Is(err, errBlocked) {
		s.refuseBlocked(c, u.Name)
		return nil, nil, false
	}
	if err != nil {
		c.Redirect(http.StatusFound, s.base+"hub/login?next="+url.QueryEscape(c.Request.URL.RequestURI()))
		return nil, nil, false
	}
	return sess, u, true
}

// localNext returns next when it is a path on this hub, else the home page,
// so a login link can never send a browser elsewhere.
func (s *Server) localNext(next string) string {
	home := s.base + "hub/home"
	if next == "" || !strings.HasPrefix(next, s.base) || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return home
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return home
	}
	return next
}

// login shows the login forms when native or LDAP logins are on, and
// otherwise explains how to get in: Labhub is opened from the LMS.
func (s *Server) login(c *gin.Context) {
	if sess, _ := s.session(c); sess != nil {
		c.Redirect(http.StatusFound, s.localNext(c.Query("next")))
		return
	}
	if s.fallbackLogin(c) {
		return
	}
	s.render(c, http.StatusOK, "message.html", map[string]any{
		"Title": "Log in", "Base": s.base, "Heading": "Open Labhub from your course",
		"Message": "Labhub logs you in when you open a Labhub activity in your course in the LMS (Moodle, Canvas, …). Go to your course and click the activity.",
	})
}

// logoutPage asks a logged-in person to confirm (GET /hub/logout, where
// notebook servers link). Logging out changes state, so it takes a form
// posted with the session's CSRF token: another site cannot log anyone out.
func (s *Server) logoutPage(c *gin.Context) {
	sess, u := s.session(c)
	if sess == nil {
		s.loggedOut(c)
		return
	}
	s.render(c, http.StatusOK, "message.html", map[string]any{
		"Title": "Log out", "Base": s.base, "User": u.Name, "Heading": "Log out of Labhub?",
		"Message":    "Logging out also closes the notebook tabs you have open; your servers keep running.",
		"FormAction": s.base + "hub/logout", "CSRF": s.csrfToken(sess), "FormButton": "Log out",
	})
}

// logout ends the session and revokes what its notebook tabs hold (POST
// /hub/logout).
func (s *Server) logout(c *gin.Context) {
	sess, u := s.session(c)
	if sess == nil {
		s.loggedOut(c)
		return
	}
	if !s.csrfForm(c, sess) {
		return
	}
	if err := s.Auth.EndSession(c.Request.Context(), sess.ID); err != nil {
		s.internalError(c, "log out", err)
		return
	}
	s.logger(c).Info("logged out", "user", u.Name)
	s.loggedOut(c)
}

// loggedOut clears the session cookie and says so.
func (s *Server) loggedOut(c *gin.Context) {
	s.setCookie(c, auth.SessionCookie, "", s.base, -1)
	s.render(c, http.StatusOK, "message.html", map[string]any{
		"Title": "Logged out", "Base": s.base, "Heading": "You are logged out",
		"Message": "Open a Labhub activity from your course to continue working.",
	})
}

type homeServer struct {
	Course, State, Error               string
	URL, PendingURL, StartURL, StopURL string
	// Ended is set when the course has ended and the user may no longer
	// start its server (only teachers may).
	Ended bool
}

// home lists the user's servers.
func (s *Server) home(c *gin.Context) {
	sess, u, ok := s.requireLogin(c)
	if !ok {
		return
	}
	var rows []struct {
		store.Server
		Title        string
		CourseEnded  *time.Time
		EnrolledRole *string
	}
	err := s.DB.WithContext(c.Request.Context()).Table("servers").
		Select("servers.*, courses.title AS title, courses.ended_at AS course_ended, enrollments.role AS enrolled_role").
		Joins("JOIN courses ON courses.id = servers.course_id").
		Joins("LEFT JOIN enrollments ON enrollments.course_id = servers.course_id AND enrollments.user_id = servers.user_id").
		Where("servers.user_id = ?", u.ID).Order("courses.title").Scan(&rows).Error
	if err != nil {
		s.internalError(c, "list servers", err)
		return
	}
	var list []homeServer
	for _, r := range rows {
		state := r.State
		if s.Manager.Pending(r.ID) {
			state = store.StateStarting
		}
		title := r.Title
		if title == "" {
			title = r.Name
		}
		// The role a start would use, as Manager.Start picks it.
		role := r.Role
		if r.EnrolledRole != nil {
			role = *r.EnrolledRole
		}
		list = append(list, homeServer{Course: title, State: state, Error: r.Error,
			Ended:      r.CourseEnded != nil && !course.IsTeacher(role),
			URL:        s.Manager.Prefix(u.Name, r.Name),
			PendingURL: s.pendingURL(u.Name, r.Name),
			StartURL:   s.base + "hub/spawn/" + course.PathEscape(u.Name) + "/" + course.PathEscape(r.Name),
			StopURL:    s.base + "hub/stop/" + course.PathEscape(u.Name) + "/" + course.PathEscape(r.Name)})
	}
	s.render(c, http.StatusOK, "home.html", map[string]any{"Title": "Home", "Base": s.base, "User": u.Name,
		"Servers": list, "CSRF": s.csrfToken(sess), "Account": s.hasNativeAccount(c, u), "Admin": u.Admin,
		"Fallback": s.fallback(), "Teaching": s.teaching(c, u), "Activities": s.homeActivities(c, u)})
}

// ownServer loads the server named in the path when it belongs to the
// logged-in user; otherwise it answers 404, so nobody learns which servers
// others have.
func (s *Server) ownServer(c *gin.Context, u *store.User) (*store.Server, bool) {
	srv, owner, err := s.Manager.Find(c.Request.Context(), c.Param("user"), c.Param("server"))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internalError(c, "find server", err)
		return nil, false
	}
	if err != nil || owner.ID != u.ID {
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "No such server",
			Message: "You have no server at this address.", Action: "Open the activity from your course to get to your own server.",
			Code: "no_server"})
		return nil, false
	}
	return srv, true
}

// spawnPending shows the progress of a start and moves on when it is done.
func (s *Server) spawnPending(c *gin.Context) {
	_, u, ok := s.requireLogin(c)
	if !ok {
		return
	}
	srv, ok := s.ownServer(c, u)
	if !ok {
		return
	}
	if srv.State == store.StateRunning && !s.Manager.Pending(srv.ID) {
		c.Redirect(http.StatusSeeOther, s.Manager.Prefix(u.Name, srv.Name))
		return
	}
	if !s.Manager.Pending(srv.ID) {
		s.serverDown(c, u, srv)
		return
	}
	var title string
	s.DB.WithContext(c.Request.Context()).Model(&store.Course{}).Where("id = ?", srv.CourseID).Pluck("title", &title)
	if title == "" {
		title = srv.Name
	}
	s.render(c, http.StatusAccepted, "pending.html", map[string]any{
		"Title": "Starting", "Base": s.base, "User": u.Name, "Course": title,
		"Message": "Server requested", "Progress": 0, "Self": c.Request.URL.RequestURI(),
		"ProgressURL": s.base + "hub/api/users/" + course.PathEscape(u.Name) + "/servers/" + course.PathEscape(srv.Name) + "/progress",
	})
}

// serverDown tells the owner their server is not running and offers to
// start it, with JupyterHub's 424 status.
func (s *Server) serverDown(c *gin.Context, u *store.User, srv *store.Server) {
	sess, _ := s.session(c)
	msg := "Your server for this course is not running."
	if srv.Error != "" {
		msg += " Last time: " + srv.Error
	}
	if isAPIRequest(c.Request) {
		apiError(c, http.StatusFailedDependency, msg)
		return
	}
	s.render(c, http.StatusFailedDependency, "message.html", map[string]any{
		"Title": "Server not running", "Base": s.base, "User": u.Name, "Heading": "Server not running",
		"Message": msg, "FormAction": s.base + "hub/spawn/" + course.PathEscape(u.Name) + "/" + course.PathEscape(srv.Name),
		"FormButton": "Start my server", "CSRF": s.csrfToken(sess),
	})
}

func isAPIRequest(r *http.Request) bool {
	return strings.Contains(r.URL.Path, "/api/") || strings.Contains(r.Header.Get("Accept"), "application/json")
}

// ownServerForm checks a form posted about the user's own server (login,
// CSRF token) and loads the server.
func (s *Server) ownServerForm(c *gin.Context) (*store.User, *store.Server, bool) {
	sess, u, ok := s.requireLogin(c)
	if !ok {
		return nil, nil, false
	}
	if !s.csrfForm(c, sess) {
		return nil, nil, false
	}
	srv, ok := s.ownServer(c, u)
	return u, srv, ok
}

// spawnServer starts the user's server (POST with the form's CSRF token).
func (s *Server) spawnServer(c *gin.Context) {
	u, srv, ok := s.ownServerForm(c)
	if !ok {
		return
	}
	st, err := s.Manager.Start(c.Request.Context(), srv.ID)
	if err != nil {
		s.internalError(c, "start server", err)
		return
	}
	if st.Waiting != "" {
		var crs store.Course
		s.DB.WithContext(c.Request.Context()).First(&crs, srv.CourseID)
		s.waiting(c, u, crs, st.Waiting)
		return
	}
	if st.Ready {
		c.Redirect(http.StatusSeeOther, st.Prefix)
		return
	}
	c.Redirect(http.StatusSeeOther, s.pendingURL(u.Name, srv.Name))
}

// stopServer stops the user's server (POST with the form's CSRF token).
func (s *Server) stopServer(c *gin.Context) {
	_, srv, ok := s.ownServerForm(c)
	if !ok {
		return
	}
	if err := s.Manager.Stop(c.Request.Context(), srv.ID, "stopped by user"); err != nil {
		s.internalError(c, "stop server", err)
		return
	}
	c.Redirect(http.StatusSeeOther, s.base+"hub/home")
}

// userFallback handles /hub/user/<name>/<server>/..., where the proxy sends
// requests for servers it has no route for.
func (s *Server) userFallback(c *gin.Context) {
	sess, u := s.session(c)
	if sess == nil {
		if isAPIRequest(c.Request) {
			apiError(c, http.StatusForbidden, "not logged in")
			return
		}
		c.Redirect(http.StatusFound, s.base+"hub/login?next="+url.QueryEscape(c.Request.URL.RequestURI()))
		return
	}
	srv, ok := s.ownServer(c, u)
	if !ok {
		return
	}
	switch {
	case s.Manager.Pending(srv.ID):
		c.Redirect(http.StatusSeeOther, s.pendingURL(u.Name, srv.Name))
	case srv.State == store.StateRunning && c.Query("redirects") == "":
		// The route may have been published since the proxy looked.
		target := s.Manager.Prefix(u.Name, srv.Name) + strings.TrimPrefix(c.Param("rest"), "/")
		c.Redirect(http.StatusFound, target+"?redirects=1")
	default:
		s.serverDown(c, u, srv)
	}
}

// ProxyFallback is the proxy's handler for /user/ paths without a route: it
// sends the browser to the hub's page for that server, as JupyterHub does.
func (s *Server) ProxyFallback() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.EscapedPath(), s.base)
		target := s.base + "hub/" + rest
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusFound)
	})
}
