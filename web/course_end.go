package web

import (
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// The end of a course: end (stop all servers), reopen, export every
// student's home, delete the course's data.

func (s *Server) courseEnd(c *gin.Context) {
	a, ok := s.teacherPost(c)
	if !ok {
		return
	}
	if err := s.Manager.EndCourse(c.Request.Context(), *a.User, &a.Course); err != nil {
		s.internalError(c, "end course", err)
		return
	}
	s.done(c, a, "ended")
}

func (s *Server) courseReopen(c *gin.Context) {
	a, ok := s.teacherPost(c)
	if !ok {
		return
	}
	if err := s.Manager.ReopenCourse(c.Request.Context(), *a.User, &a.Course); err != nil {
		s.internalError(c, "reopen course", err)
		return
	}
	s.done(c, a, "reopened")
}

func (s *Server) courseExportAll(c *gin.Context) {
	a, ok := s.requireTeacher(c)
	if !ok {
		return
	}
	s.sendDownload(c, "application/zip", a.Course.Slug+"-export.zip", func(w io.Writer) error {
		return s.Manager.ExportAll(c.Request.Context(), *a.User, a.Course, w)
	}, "failed to export course", "course", a.Course.Slug)
}

func (s *Server) courseExportStudent(c *gin.Context) {
	a, ok := s.requireTeacher(c)
	if !ok {
		return
	}
	name := c.Param("user")
	ctx := c.Request.Context()
	owners, err := s.Manager.HomeOwners(ctx, a.Course)
	if err != nil {
		s.internalError(c, "list course homes", err)
		return
	}
	found := false
	for _, o := range owners {
		found = found || o.UserName == name
	}
	if !found {
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "Nothing to export",
			Message: "Nobody of that name has files in this course.", Code: "no_home"})
		return
	}
	s.Manager.Audit(ctx, *a.User, "course.export", &a.Course, name, "")
	s.sendDownload(c, "application/gzip", a.Course.Slug+"-"+name+".tar.gz", func(w io.Writer) error {
		return s.Manager.ExportStudent(ctx, a.Course, name, w)
	}, "failed to export student", "course", a.Course.Slug, "user", name)
}

func (s *Server) courseDelete(c *gin.Context) {
	a, ok := s.teacherPost(c)
	if !ok {
		return
	}
	if strings.TrimSpace(c.PostForm("confirm")) != a.Course.Slug {
		s.fail(c, problem{Status: http.StatusBadRequest, Heading: "Not deleted",
			Message: "To delete the course's data, type its short name (" + a.Course.Slug + ") into the box.",
			Code:    "unconfirmed"})
		return
	}
	if err := s.Manager.DeleteCourse(c.Request.Context(), *a.User, a.Course); err != nil {
		s.internalError(c, "delete course", err)
		return
	}
	s.render(c, http.StatusOK, "message.html", map[string]any{"Title": "Course deleted", "Base": s.base,
		"User": a.User.Name, "Heading": "Course data deleted",
		"Message": "Every server, home folder and course file of " + a.Course.Title + " is gone. A new launch from the LMS starts the course afresh."})
}
