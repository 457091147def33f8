package web

import (
	"bytes"
	"embed"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("pages").Funcs(templateFuncs).ParseFS(templateFS, "templates/*.html"))

// page is the data every template gets.
type page struct {
	Title string
	Base  string
	User  string
}

// render writes a template with status. Templates render into a buffer so a
// failure never leaves a half-written page.
func (s *Server) render(c *gin.Context, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("failed to render page", "template", name, "error", err)
		c.String(http.StatusInternalServerError, "Labhub could not render this page.")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// problem is an error page: a message for the person who sees it, an
// optional action they can take, and a hint for administrators.
type problem struct {
	page
	Status  int
	Heading string
	Message string
	Action  string
	Hint    string
	// Detail says exactly what was wrong, for whoever troubleshoots.
	Detail string
	Code   string
}

func (s *Server) fail(c *gin.Context, p problem) {
	if p.Title == "" {
		p.Title = p.Heading
	}
	p.Base = s.base
	s.render(c, p.Status, "error.html", p)
	c.Abort()
}

// internalError logs err and shows a generic page.
func (s *Server) internalError(c *gin.Context, what string, err error) {
	s.log.Error("request failed", "what", what, "path", c.Request.URL.Path, "error", err)
	s.fail(c, problem{Status: http.StatusInternalServerError, Heading: "Something went wrong",
		Message: "Labhub could not finish this request. Try again in a moment; if it keeps happening, tell your teacher.",
		Code:    "internal_error"})
}

// apiError answers a JSON API request the way JupyterHub does.
func apiError(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, gin.H{"status": status, "message": msg})
}

// logger returns the request-scoped logger.
func (s *Server) logger(c *gin.Context) *slog.Logger {
	return s.log.With("remote_addr", s.clientIP(c.Request))
}
