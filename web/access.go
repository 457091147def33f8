package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/store"
)

// courseAccess is a logged-in user's standing in the course a page is
// about.
type courseAccess struct {
	Session *store.Session
	User    *store.User
	Course  store.Course
	// Role is the user's role in the course, "" when they are a site
	// administrator who is not enrolled.
	Role string
}

// requireTeacher loads the course named by the :course path parameter (its
// slug) when the logged-in user teaches it or is a site administrator.
// Anyone else gets the same 404 as for a course that does not exist, so
// nobody learns which courses there are.
func (s *Server) requireTeacher(c *gin.Context) (*courseAccess, bool) {
	sess, u, ok := s.requireLogin(c)
	if !ok {
		return nil, false
	}
	a := &courseAccess{Session: sess, User: u}
	db := s.DB.WithContext(c.Request.Context())
	err := db.Where("slug = ?", c.Param("course")).First(&a.Course).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		s.internalError(c, "load course", err)
		return nil, false
	}
	if err == nil {
		var e store.Enrollment
		if db.Where("course_id = ? AND user_id = ?", a.Course.ID, u.ID).First(&e).Error == nil {
			a.Role = e.Role
		}
		if course.IsTeacher(a.Role) || u.Admin {
			return a, true
		}
	}
	s.fail(c, problem{Status: http.StatusNotFound, Heading: "No such course",
		Message: "There is no course at this address that you teach.", Code: "no_course"})
	return nil, false
}

// requireAdmin lets only site administrators through; others get a 404.
func (s *Server) requireAdmin(c *gin.Context) (*store.Session, *store.User, bool) {
	sess, u, ok := s.requireLogin(c)
	if !ok {
		return nil, nil, false
	}
	if !u.Admin {
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "Page not found",
			Message: "There is nothing at this address.", Code: "not_found"})
		return nil, nil, false
	}
	return sess, u, true
}
