package web

import (
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/store"
)

// maxForm bounds the size of launch and login forms.
const maxForm = 1 << 20

// multipartMemory is how much of a multipart form is held in memory; the
// rest of its files go to temporary files.
const multipartMemory = 32 << 20

// bodyLimitKey is where limitBody records a handler's bound on the body.
const bodyLimitKey = "labhub.bodyLimit"

// limitBody bounds the request body to n bytes. A handler that takes
// uploads calls it before the form is read, so its bound replaces maxForm.
func limitBody(c *gin.Context, n int64) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
	c.Set(bodyLimitKey, n)
}

// parseForm reads query and body parameters of a form post, urlencoded or
// multipart, bounded by limitBody's bound or else maxForm.
func parseForm(c *gin.Context) error {
	if _, ok := c.Get(bodyLimitKey); !ok {
		limitBody(c, maxForm)
	}
	r := c.Request
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		return r.ParseMultipartForm(multipartMemory)
	}
	return r.ParseForm()
}

// readForm reads the posted form and answers one that cannot be read: 413
// when the body passed its bound, 400 when it is malformed. It reports
// whether the form was read.
func (s *Server) readForm(c *gin.Context) bool {
	err := parseForm(c)
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.fail(c, problem{Status: http.StatusRequestEntityTooLarge, Heading: "Upload too large",
			Message: fmt.Sprintf("The upload is too large (at most %s).", sizeText(tooBig.Limit)),
			Action:  "Go back and send less at once.", Code: "too_large"})
		return false
	}
	s.logger(c).Info("refused unreadable form", "error", err)
	s.fail(c, problem{Status: http.StatusBadRequest, Heading: "Request refused",
		Message: "The form could not be read. Go back, reload the page and try again.", Code: "bad_form"})
	return false
}

// csrfForm reads the posted form and checks its CSRF token against sess,
// answering either failure; it reports whether both passed.
func (s *Server) csrfForm(c *gin.Context, sess *store.Session) bool {
	return s.postedForm(c, func() bool { return s.checkCSRF(c, sess) })
}

// loginForm is csrfForm for the forms of people not logged in yet.
func (s *Server) loginForm(c *gin.Context) bool {
	return s.postedForm(c, func() bool { return s.checkLoginCSRF(c) })
}

// postedForm reads the posted form and runs the token check, answering
// either failure; it reports whether both passed.
func (s *Server) postedForm(c *gin.Context, check func() bool) bool {
	if !s.readForm(c) {
		return false
	}
	if !check() {
		s.expiredForm(c)
		return false
	}
	return true
}

// sizeText writes a bound in bytes for people: 5 MiB, 1 GiB.
func sizeText(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return humanBytes(n)
}
