package web

import (
	"errors"
	"net/http"

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
		s.refuseBlockedLaunch(c, u.Name, method)
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
		s.refuseBlockedLaunch(c, e.User.Name, method)
		return nil, false
	case err != nil:
		s.internalError(c, "record launch", err)
		return nil, false
	}
	return e, true
}

// refuseBlockedLaunch answers the launch of a blocked username.
func (s *Server) refuseBlockedLaunch(c *gin.Context, name, method string) {
	s.logger(c).Warn("refused launch of blocked user", "user", name, "method", method)
	s.fail(c, problem{Status: http.StatusForbidden, Heading: "This account may not use Labhub",
		Message: "Labhub does not let this account log in.", Action: "If you think this is a mistake, tell your teacher.",
		Code: "blocked_user"})
}
