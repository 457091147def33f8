package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/lti"
)

// maxForm bounds the size of launch and login forms.
const maxForm = 1 << 20

// parseForm reads query and body parameters of a form post, bounded.
func parseForm(c *gin.Context) error {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxForm)
	return c.Request.ParseForm()
}

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
		Action:  "Go back to your course and open the activity again. If this keeps happening, tell your teacher and mention the error code below.",
		Hint:    le.Hint,
		Detail:  le.Detail,
		Code:    le.Code,
	})
}

// launchMessage says in plain words what went wrong, for the student.
func launchMessage(code string) string {
	switch code {
	case "stale_timestamp", "expired", "issued_in_future", "bad_timestamp":
		return "The launch from your course arrived too late or with a wrong time."
	case "replayed_nonce":
		return "This launch was already used once. Each launch works only once, so reloading the page after a launch does not work."
	case "bad_state", "missing_state", "state_mismatch":
		return "Your browser lost track of this login, for example because it was opened in another window or the login took too long."
	case "platform_error":
		return "Your LMS reported an error instead of logging you in."
	case "unknown_consumer", "unknown_platform", "unknown_deployment":
		return "Labhub does not know the LMS or course tool this launch came from."
	default:
		return "Labhub could not verify that this launch really came from your LMS."
	}
}

// finishLaunch turns a verified launch into a session and a server start.
func (s *Server) finishLaunch(c *gin.Context, provider, method string, l *lti.Launch) {
	ctx := c.Request.Context()
	s.metrics.launches.WithLabelValues(l.Version, "ok").Inc()
	if l.MessageType == "LtiDeepLinkingRequest" {
		// TODO: content selection (deep linking) lets a teacher pick an image
		// and a starting notebook; until it exists the teacher adds the tool
		// as a plain link.
		s.fail(c, problem{Status: http.StatusNotImplemented, Heading: "Adding content is not available yet",
			Message: "Labhub cannot yet be picked from the LMS content selector.",
			Action:  "Add Labhub to your course as an external tool activity instead; it works the same for students.",
			Code:    "deep_linking_unsupported"})
		return
	}
	e, err := s.Courses.RecordLaunch(ctx, provider, l)
	if err != nil {
		s.internalError(c, "record launch", err)
		return
	}
	cookie, _, err := s.Auth.NewSession(ctx, nil, e.User.ID, method)
	if err != nil {
		s.internalError(c, "create session", err)
		return
	}
	s.setCookie(c, auth.SessionCookie, cookie, s.base, 0)
	s.logger(c).Info("accepted launch", "lti_version", l.Version, "user", e.User.Name, "course", e.Course.Slug,
		"role", e.Enrollment.Role, "new_user", e.NewUser)
	req := course.StartRequest{User: e.User, Course: e.Course, Role: e.Enrollment.Role}
	if e.Activity.ID != 0 {
		req.Activity = &e.Activity
	}
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

func (s *Server) pendingURL(user, server string) string {
	return fmt.Sprintf("%shub/spawn-pending/%s/%s", s.base, course.PathEscape(user), course.PathEscape(server))
}
