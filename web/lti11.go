package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/registry"
)

// lti11Launch handles POST /hub/lti/launch, the LTI 1.1 launch URL existing
// Moodle activities of the old deployment already point at.
func (s *Server) lti11Launch(c *gin.Context) {
	if err := parseForm(c); err != nil {
		s.fail(c, problem{Status: http.StatusBadRequest, Heading: "This launch could not be read",
			Message: "The launch form was malformed or too large.", Code: "bad_form"})
		return
	}
	l, err := s.LTI11.Verify(c.Request.Context(), c.Request.Method, s.externalURL(c.Request), c.Request.Form,
		checkContentItem)
	if errors.Is(err, errContentItem) {
		s.refuseContentItem(c)
		return
	}
	if err != nil {
		s.rejectLaunch(c, "1.1", err)
		return
	}
	cons, err := s.Registry.Consumer(c.Request.Context(), l.ConsumerKey)
	if err != nil {
		s.internalError(c, "load consumer", err)
		return
	}
	s.finishLaunch(c, registry.ProviderLTI11(cons.ID), "lti11", l)
}
