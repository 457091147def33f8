package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/config"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/store"
)

// imageAPIRoutes adds the image catalog's JSON API, for administrators'
// scripts: GET and POST /api/images, GET, PUT and DELETE /api/images/<name>,
// POST /api/images/<name>/pull.
func (s *Server) imageAPIRoutes(g *gin.RouterGroup) {
	g.GET("/api/images", s.apiImages)
	g.POST("/api/images", s.apiPutImage)
	g.GET("/api/images/:name", s.apiImage)
	g.PUT("/api/images/:name", s.apiPutImage)
	g.DELETE("/api/images/:name", s.apiDeleteImage)
	g.POST("/api/images/:name/pull", s.apiPullImage)
}

// ScopeImages is the token scope that allows managing the image catalog.
const ScopeImages = "admin:images"

// imageJSON is a catalog entry in the API.
type imageJSON struct {
	Name        string    `json:"name"`
	Ref         string    `json:"ref"`
	Description string    `json:"description"`
	MemDefault  int64     `json:"mem_default"`
	MemMax      int64     `json:"mem_max"`
	CPUDefault  float64   `json:"cpu_default"`
	CPUMax      float64   `json:"cpu_max"`
	Present     bool      `json:"present"`
	Courses     int       `json:"courses"`
	Pull        *pullJSON `json:"pull,omitempty"`
}

type pullJSON struct {
	Percent int `json:"percent"`
	Layers  int `json:"layers"`
	Done    int `json:"layers_done"`
}

func toImageJSON(ci course.CatalogImage) imageJSON {
	j := imageJSON{Name: ci.Image.Name, Ref: ci.Image.Ref, Description: ci.Image.Description,
		MemDefault: ci.Image.MemDefault, MemMax: ci.Image.MemMax, CPUDefault: float64(ci.Image.CPUDefault) / 1e9,
		CPUMax: float64(ci.Image.CPUMax) / 1e9, Present: ci.Present, Courses: ci.Courses}
	if ci.Pulling {
		j.Pull = &pullJSON{Percent: ci.Pull.Percent, Layers: ci.Pull.Layers, Done: ci.Pull.Done}
	}
	return j
}

// apiAdmin authenticates an administrator's token that may manage images.
func (s *Server) apiAdmin(c *gin.Context) (*store.User, bool) {
	t, u, ok := s.apiCaller(c)
	if !ok {
		return nil, false
	}
	scopes := auth.Scopes(t)
	if !u.Admin || t.Kind != store.TokenAPI || (len(scopes) > 0 && !auth.HasScope(scopes, ScopeImages)) {
		apiError(c, http.StatusForbidden, "managing images needs an administrator's API token")
		return nil, false
	}
	return u, true
}

func (s *Server) apiImages(c *gin.Context) {
	if _, ok := s.apiAdmin(c); !ok {
		return
	}
	catalog, err := s.Manager.Catalog(c.Request.Context())
	if err != nil {
		s.log.Error("failed to list images", "error", err)
		apiError(c, http.StatusInternalServerError, "listing images failed")
		return
	}
	out := make([]imageJSON, len(catalog))
	for i, ci := range catalog {
		out[i] = toImageJSON(ci)
	}
	c.JSON(http.StatusOK, gin.H{"images": out})
}

func (s *Server) apiImage(c *gin.Context) {
	if _, ok := s.apiAdmin(c); !ok {
		return
	}
	ci, err := s.Manager.Image(c.Request.Context(), c.Param("name"))
	if errors.Is(err, store.ErrNotFound) {
		apiError(c, http.StatusNotFound, "no such image")
		return
	}
	if err != nil {
		s.log.Error("failed to load image", "error", err)
		apiError(c, http.StatusInternalServerError, "loading the image failed")
		return
	}
	c.JSON(http.StatusOK, toImageJSON(ci))
}

// jsonKind names what a Go type takes in JSON.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint64:
		return "whole number"
	case reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	}
	return t.Kind().String()
}

// apiPutImage creates (POST /api/images) or replaces (PUT
// /api/images/<name>) a catalog entry from a JSON body.
func (s *Server) apiPutImage(c *gin.Context) {
	u, ok := s.apiAdmin(c)
	if !ok {
		return
	}
	var body imageJSON
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10))
	if err == nil {
		err = json.Unmarshal(raw, &body)
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		apiError(c, http.StatusBadRequest, fmt.Sprintf("%s must be a JSON %s (memory in bytes, CPU in cores)", typeErr.Field, jsonKind(typeErr.Type)))
		return
	case err != nil:
		apiError(c, http.StatusBadRequest, "the body must be a JSON object with name, ref and optional description and limits")
		return
	}
	if n := c.Param("name"); n != "" {
		body.Name = n
	}
	in := course.ImageInput{Name: body.Name, Ref: body.Ref, Description: body.Description, MemDefault: body.MemDefault,
		MemMax: body.MemMax}
	for _, f := range []struct {
		field string
		v     float64
		dst   *int64
	}{{"cpu_default", body.CPUDefault, &in.CPUDefault}, {"cpu_max", body.CPUMax, &in.CPUMax}} {
		n, err := config.ParseCores(strconv.FormatFloat(f.v, 'f', -1, 64))
		if err != nil {
			apiError(c, http.StatusBadRequest, f.field+": "+err.Error())
			return
		}
		*f.dst = n
	}
	img, err := s.Manager.PutImage(c.Request.Context(), in)
	var ie *course.InputError
	if errors.As(err, &ie) {
		apiError(c, http.StatusBadRequest, ie.Msg)
		return
	}
	if err != nil {
		s.log.Error("failed to save image", "error", err)
		apiError(c, http.StatusInternalServerError, "saving the image failed")
		return
	}
	s.Manager.Audit(c.Request.Context(), *u, "image.put", nil, "", img.Name+" = "+img.Ref)
	ci, err := s.Manager.Image(c.Request.Context(), img.Name)
	if err != nil {
		s.log.Error("failed to load image", "error", err)
		apiError(c, http.StatusInternalServerError, "loading the image failed")
		return
	}
	status := http.StatusOK
	if c.Request.Method == http.MethodPost {
		status = http.StatusCreated
	}
	c.JSON(status, toImageJSON(ci))
}

func (s *Server) apiDeleteImage(c *gin.Context) {
	u, ok := s.apiAdmin(c)
	if !ok {
		return
	}
	err := s.Manager.DeleteImage(c.Request.Context(), c.Param("name"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		apiError(c, http.StatusNotFound, "no such image")
	case errors.Is(err, course.ErrImageInUse):
		apiError(c, http.StatusConflict, err.Error())
	case err != nil:
		s.log.Error("failed to delete image", "error", err)
		apiError(c, http.StatusInternalServerError, "deleting the image failed")
	default:
		s.Manager.Audit(c.Request.Context(), *u, "image.delete", nil, "", c.Param("name"))
		c.Status(http.StatusNoContent)
	}
}

func (s *Server) apiPullImage(c *gin.Context) {
	u, ok := s.apiAdmin(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	ci, err := s.Manager.Image(ctx, c.Param("name"))
	if errors.Is(err, store.ErrNotFound) {
		apiError(c, http.StatusNotFound, "no such image")
		return
	}
	if err != nil {
		s.log.Error("failed to load image", "error", err)
		apiError(c, http.StatusInternalServerError, "loading the image failed")
		return
	}
	if err := s.Manager.StartPull(ci.Image.Ref); err != nil {
		s.log.Error("failed to pull image", "error", err)
		apiError(c, http.StatusInternalServerError, "starting the pull failed")
		return
	}
	s.Manager.Audit(ctx, *u, "image.pull", nil, "", ci.Image.Ref)
	if ci, err = s.Manager.Image(ctx, ci.Image.Name); err != nil {
		apiError(c, http.StatusInternalServerError, "loading the image failed")
		return
	}
	c.JSON(http.StatusAccepted, toImageJSON(ci))
}
