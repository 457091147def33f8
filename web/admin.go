package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/config"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/store"
)

// adminRoutes adds the admin console: the image catalog and the audit log.
func (s *Server) adminRoutes(g *gin.RouterGroup) {
	g.GET("/hub/admin", func(c *gin.Context) { c.Redirect(http.StatusFound, s.base+"hub/admin/images") })
	g.GET("/hub/admin/", func(c *gin.Context) { c.Redirect(http.StatusFound, s.base+"hub/admin/images") })
	g.GET("/hub/admin/images", s.adminImages)
	g.POST("/hub/admin/images", s.adminPutImage)
	g.POST("/hub/admin/images/:name/delete", s.adminDeleteImage)
	g.POST("/hub/admin/images/:name/pull", s.adminPullImage)
	g.GET("/hub/admin/audit", s.adminAudit)
}

type imageRow struct {
	course.CatalogImage
	MemDefault, MemMax, CPUDefault, CPUMax string
}

var adminNotices = map[string]string{
	"saved":   "Image saved.",
	"deleted": "Image removed from the catalog.",
	"pulling": "The image is being pulled; reload the page to follow it.",
}

func (s *Server) adminImages(c *gin.Context) {
	sess, u, ok := s.requireAdmin(c)
	if !ok {
		return
	}
	catalog, err := s.Manager.Catalog(c.Request.Context())
	if err != nil {
		s.internalError(c, "load catalog", err)
		return
	}
	rows := make([]imageRow, len(catalog))
	for i, ci := range catalog {
		rows[i] = imageRow{CatalogImage: ci, MemDefault: course.FormatBytes(ci.Image.MemDefault),
			MemMax: course.FormatBytes(ci.Image.MemMax), CPUDefault: course.FormatCPU(ci.Image.CPUDefault),
			CPUMax: course.FormatCPU(ci.Image.CPUMax)}
	}
	s.render(c, http.StatusOK, "admin_images.html", map[string]any{"Title": "Image catalog", "Base": s.base,
		"User": u.Name, "CSRF": s.csrfToken(sess), "Images": rows, "DefaultImage": s.Manager.DefaultImage(),
		"Notice": adminNotices[c.Query("notice")], "Edit": c.Query("edit")})
}

func (s *Server) adminInvalid(c *gin.Context, err error) bool {
	var ie *course.InputError
	if errors.As(err, &ie) {
		s.fail(c, problem{Status: http.StatusBadRequest, Heading: "The image was not saved", Message: ie.Msg,
			Action: "Go back, correct the entry and save again.", Code: "invalid_input"})
		return true
	}
	return false
}

func (s *Server) adminPutImage(c *gin.Context) {
	_, u, ok := s.adminPost(c)
	if !ok {
		return
	}
	in := course.ImageInput{Name: c.PostForm("name"), Ref: c.PostForm("ref"), Description: c.PostForm("description")}
	var errs []string
	for _, f := range []struct {
		field string
		dst   *int64
		cpu   bool
	}{{"mem_default", &in.MemDefault, false}, {"mem_max", &in.MemMax, false},
		{"cpu_default", &in.CPUDefault, true}, {"cpu_max", &in.CPUMax, true}} {
		v := strings.TrimSpace(c.PostForm(f.field))
		if v == "" {
			continue
		}
		if f.cpu {
			n, err := config.ParseCores(v)
			if err != nil {
				errs = append(errs, "CPU limits are numbers of cores such as 2 or 0.5, at most 1024")
				continue
			}
			*f.dst = n
			continue
		}
		n, err := config.ParseBytes(v)
		if err != nil {
			errs = append(errs, "memory limits are sizes such as 512M or 4G, at most 1024T")
			continue
		}
		*f.dst = n
	}
	if len(errs) > 0 {
		s.adminInvalid(c, &course.InputError{Msg: strings.Join(errs, "; ")})
		return
	}
	img, err := s.Manager.PutImage(c.Request.Context(), in)
	if s.adminInvalid(c, err) {
		return
	}
	if err != nil {
		s.internalError(c, "save image", err)
		return
	}
	s.Manager.Audit(c.Request.Context(), *u, "image.put", nil, "", img.Name+" = "+img.Ref)
	c.Redirect(http.StatusSeeOther, s.base+"hub/admin/images?notice=saved")
}

func (s *Server) adminDeleteImage(c *gin.Context) {
	_, u, ok := s.adminPost(c)
	if !ok {
		return
	}
	err := s.Manager.DeleteImage(c.Request.Context(), c.Param("name"))
	switch {
	case errors.Is(err, course.ErrImageInUse):
		s.fail(c, problem{Status: http.StatusConflict, Heading: "The image stays", Message: err.Error(), Code: "image_in_use"})
		return
	case errors.Is(err, store.ErrNotFound):
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "No such image",
			Message: "The catalog has no image of that name.", Code: "no_image"})
		return
	case err != nil:
		s.internalError(c, "delete image", err)
		return
	}
	s.Manager.Audit(c.Request.Context(), *u, "image.delete", nil, "", c.Param("name"))
	c.Redirect(http.StatusSeeOther, s.base+"hub/admin/images?notice=deleted")
}

func (s *Server) adminPullImage(c *gin.Context) {
	_, u, ok := s.adminPost(c)
	if !ok {
		return
	}
	img, err := s.Manager.Image(c.Request.Context(), c.Param("name"))
	if errors.Is(err, store.ErrNotFound) {
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "No such image",
			Message: "The catalog has no image of that name.", Code: "no_image"})
		return
	}
	if err != nil {
		s.internalError(c, "load image", err)
		return
	}
	if err := s.Manager.StartPull(img.Ref); err != nil {
		s.internalError(c, "pull image", err)
		return
	}
	s.Manager.Audit(c.Request.Context(), *u, "image.pull", nil, "", img.Ref)
	c.Redirect(http.StatusSeeOther, s.base+"hub/admin/images?notice=pulling")
}

func (s *Server) adminAudit(c *gin.Context) {
	_, u, ok := s.requireAdmin(c)
	if !ok {
		return
	}
	entries, err := s.Manager.AuditLog(c.Request.Context(), nil, 200)
	if err != nil {
		s.internalError(c, "read audit log", err)
		return
	}
	rows := auditRows(entries)
	courses := make([]string, len(entries))
	for i, e := range entries {
		courses[i] = e.Course
	}
	type row struct {
		auditRow
		Course string
	}
	out := make([]row, len(rows))
	for i := range rows {
		out[i] = row{rows[i], courses[i]}
	}
	s.render(c, http.StatusOK, "admin_audit.html", map[string]any{"Title": "Audit log", "Base": s.base,
		"User": u.Name, "Entries": out})
}
