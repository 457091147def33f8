package web

import (
	"errors"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/store"
)

// admitLaunch applies the account policy to the user of a verified LTI
// launch: a blocked name is refused, and a userlist administrator is made
// one, as native and LDAP logins do. Who may launch at all is the LMS's
// decision, so the userlist's list of allowed names does not apply. On
// failure it has answered.
func (s *Server) admitLaunch(c *gin.Context, u *store.User, method string) bool {
	if s.blocked(u) {
		s.refuseBlocked(c, u.Name, "method", method)
		return false
	}
	if s.Accounts == nil {
		return true
	}
	if err := s.Accounts.GrantListedAdmin(c.Request.Context(), u); err != nil {
		s.internalError(c, "apply userlist", err)
		return false
	}
	return true
}

// recordLaunch records a verified launch (see course.Service.RecordLaunch).
// A blocked person's launch, which writes nothing, is refused. On failure
// it has answered.
func (s *Server) recordLaunch(c *gin.Context, provider, method string, l *lti.Launch) (*course.Enrolled, bool) {
	e, err := s.Courses.RecordLaunch(c.Request.Context(), provider, l)
	switch {
	case errors.Is(err, course.ErrBlocked):
		s.refuseBlocked(c, e.User.Name, "method", method)
		return nil, false
	case err != nil:
		s.internalError(c, "record launch", err)
		return nil, false
	}
	return e, true
}
