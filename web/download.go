package web

import (
	"io"
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"
)

// sendDownload answers with a file to save, named filename, whose body write
// produces as it streams. Once the body has begun, a failure can only be
// logged (as event, with attrs): the browser is left with a cut file.
func (s *Server) sendDownload(c *gin.Context, contentType, filename string, write func(io.Writer) error,
	event string, attrs ...any) {
	c.Header("Content-Type", contentType)
	c.Header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	if err := write(c.Writer); err != nil {
		s.log.Error(event, append(attrs, "error", err)...)
	}
}
