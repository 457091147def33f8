package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/lti"
)

// rejectLaunch renders an LTI verification failure.
func (s *Server) rejectLaunch(c *gin.Context, version string, err error) {
	var le *lti.Error
	if !errors.As(err, &le) {
		s.metrics.launches.WithLabelValues(version, "error").Inc()
		s.internalError(c, "verify launch", err)
		return
	}
	s.metrics.launches.WithLabelValues(version, le.Code).Inc()
	s.logger(c).Info("rejected launch", "lti_version", version, "code", le.Code, "detail", le.Detail)
	status := le.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	s.fail(c, problem{
		Status:  status,
		Heading: "This launch could not be accepted",
		Message: launchMessage(le.Code),
		Action:  launchAction(le.Code),
		Hint:    launchHint(le),
		Detail:  le.Detail,
		Code:    le.Code,
	})
}

// errContentItem refuses an LTI 1.1 ContentItemSelectionRequest. LTI 1.3
// deep linking requests get the picker instead.
//
// TODO: answering one needs an OAuth 1.0a signed content-item message,
// which Labhub does not build yet.
var errContentItem = errors.New("lti 1.1 content item selection is not supported")

// checkContentItem is the LTI 1.1 verifier's check that refuses content
// item selection before the launch's nonce is recorded.
func checkContentItem(l *lti.Launch) error {
	if l.IsContentItem() {
		return errContentItem
	}
	return nil
}

// refuseContentItem explains the refusal of errContentItem.
func (s *Server) refuseContentItem(c *gin.Context) {
	s.metrics.launches.WithLabelValues("1.1", "deep_linking_unsupported").Inc()
	s.fail(c, problem{Status: http.StatusNotImplemented, Heading: "Adding content needs LTI 1.3",
		Message: "Labhub can be picked from the LMS content selector only when it is registered as an LTI 1.3 tool.",
		Action:  "Add Labhub to your course as an external tool activity instead; it works the same for students.",
		Hint:    "Register Labhub in the LMS as an LTI 1.3 tool (dynamic registration or by hand) to offer the activity picker.",
		Code:    "deep_linking_unsupported"})
}

// finishLaunch turns a verified launch into a session and a server start.
func (s *Server) finishLaunch(c *gin.Context, provider, method string, l *lti.Launch) {
	ctx := c.Request.Context()
	s.metrics.launches.WithLabelValues(l.Version, "ok").Inc()
	e, ok := s.recordLaunch(c, provider, method, l)
	if !ok {
		return
	}
	if !s.launchSession(c, &e.User, method) {
		return
	}
	s.afterLaunch(provider, l, e)
	s.logger(c).Info("accepted launch", "lti_version", l.Version, "user", e.User.Name, "course", e.Course.Slug,
		"role", e.Enrollment.Role, "new_user", e.NewUser)
	req := startRequest(e)
	if s.chooseImageFirst(c, req) {
		return
	}
	st, err := s.Manager.Ensure(ctx, req)
	if err != nil {
		s.internalError(c, "start server", err)
		return
	}
	if st.Waiting != "" {
		s.waiting(c, &e.User, e.Course, st.Waiting)
		return
	}
	if st.Ready {
		c.Redirect(http.StatusSeeOther, st.Prefix)
		return
	}
	c.Redirect(http.StatusSeeOther, s.pendingURL(e.User.Name, st.Server.Name))
}

// startRequest is the server start a recorded launch asks for.
func startRequest(e *course.Enrolled) course.StartRequest {
	req := course.StartRequest{User: e.User, Course: e.Course, Role: e.Enrollment.Role}
	if e.Activity.ID != 0 {
		req.Activity = &e.Activity
	}
	return req
}

func (s *Server) pendingURL(user, server string) string {
	return fmt.Sprintf("%shub/spawn-pending/%s/%s", s.base, course.PathEscape(user), course.PathEscape(server))
}
