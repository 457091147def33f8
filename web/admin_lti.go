package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/store"
	"github.com/labhub/labhub/toolkey"
)

// adminView is what the LTI page of the admin console shows.
type adminView struct {
	URLs         [][2]string
	Registration string
	Platforms    []adminPlatform
	Invites      []store.RegistrationInvite
	Keys         []toolkey.Info
	NewInvite    string
	Notice       string
	Problem      string
	Now          time.Time
}

type adminPlatform struct {
	store.Platform
	LoginURL    string
	Deployments string
}

// adminLTI shows LMS registrations, registration invites and tool keys
// (GET /hub/admin/lti).
func (s *Server) adminLTI(c *gin.Context) {
	sess, u, ok := s.requireAdmin(c)
	if !ok {
		return
	}
	s.renderAdmin(c, http.StatusOK, sess, u, adminView{})
}

func (s *Server) renderAdmin(c *gin.Context, status int, sess *store.Session, u *store.User, v adminView) {
	ctx := c.Request.Context()
	v.Now = time.Now()
	v.Registration = s.Advantage.Registration
	if v.Registration == "" {
		v.Registration = RegistrationInvite
	}
	v.URLs = [][2]string{
		{"LTI 1.3 login (initiate login URL)", s.PublicURL + "lti/login"},
		{"LTI 1.3 launch (tool URL, redirection URI, deep linking URL)", s.PublicURL + "lti/launch"},
		{"Public keyset", s.PublicURL + "lti/jwks"},
		{"Dynamic registration", s.PublicURL + "lti/register"},
		{"Tool configuration (JSON)", s.PublicURL + "lti/config.json"},
		{"LTI 1.1 launch", s.PublicURL + "hub/lti/launch"},
		{"LTI 1.1 cartridge (XML)", s.PublicURL + "lti11/config.xml"},
	}
	platforms, err := s.Registry.Platforms(ctx)
	if err != nil {
		s.internalError(c, "list platforms", err)
		return
	}
	for _, p := range platforms {
		var deps []string
		for _, d := range p.Deployments {
			deps = append(deps, d.DeploymentID)
		}
		v.Platforms = append(v.Platforms, adminPlatform{Platform: p, Deployments: strings.Join(deps, " "),
			LoginURL: s.PublicURL + "lti/login/" + strconv.FormatUint(uint64(p.ID), 10)})
	}
	if v.Invites, err = s.Registry.Invites(ctx); err != nil {
		s.internalError(c, "list invites", err)
		return
	}
	if v.Keys, err = s.Keys.List(ctx); err != nil {
		s.internalError(c, "list keys", err)
		return
	}
	s.render(c, status, "admin_lti.html", map[string]any{"Title": "LMS registrations", "Base": s.base,
		"User": u.Name, "CSRF": s.csrfToken(sess), "V": v})
}

// adminPost checks an admin form post; on failure it has answered.
func (s *Server) adminPost(c *gin.Context) (*store.Session, *store.User, bool) {
	sess, u, ok := s.requireAdmin(c)
	if !ok {
		return nil, nil, false
	}
	if !s.csrfForm(c, sess) {
		return nil, nil, false
	}
	return sess, u, true
}

// fields splits a form value at spaces, commas and line ends.
func fields(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// adminAddPlatform registers a platform by hand (POST /hub/admin/lti/platforms).
func (s *Server) adminAddPlatform(c *gin.Context) {
	sess, u, ok := s.adminPost(c)
	if !ok {
		return
	}
	f := c.Request.PostForm
	in := registry.PlatformInput{Name: strings.TrimSpace(f.Get("name")), Issuer: strings.TrimSpace(f.Get("issuer")),
		ClientID: strings.TrimSpace(f.Get("client_id")), AuthURL: strings.TrimSpace(f.Get("auth_url")),
		TokenURL: strings.TrimSpace(f.Get("token_url")), TokenAudience: strings.TrimSpace(f.Get("token_audience")),
		JWKSURL: strings.TrimSpace(f.Get("jwks_url")), Deployments: fields(f.Get("deployments")),
		Origins: fields(f.Get("origins")), DeploymentPolicy: f.Get("policy"), ByHand: true}
	_, err := s.Registry.Platform(c.Request.Context(), in.Issuer, in.ClientID)
	existed := err == nil
	p, err := s.Registry.PutPlatform(c.Request.Context(), in)
	if err != nil {
		s.renderAdmin(c, http.StatusBadRequest, sess, u, adminView{Problem: "The platform was not saved: " + err.Error()})
		return
	}
	s.logger(c).Info("registered platform by hand", "platform_id", p.ID, "issuer", p.Issuer, "admin", u.Name)
	s.Manager.Audit(c.Request.Context(), *u, "platform.register", nil, "", p.Issuer+" client "+p.ClientID)
	notice := "Saved the platform " + p.Issuer + "."
	if existed {
		notice = "Updated the platform " + p.Issuer + " (client " + p.ClientID + "): its URLs were replaced and deployment ids added."
	}
	s.renderAdmin(c, http.StatusOK, sess, u, adminView{Notice: notice})
}

// adminUpdatePlatform changes a platform's policy and origins or adds a
// deployment id (POST /hub/admin/lti/platforms/:id).
func (s *Server) adminUpdatePlatform(c *gin.Context) {
	sess, u, ok := s.adminPost(c)
	if !ok {
		return
	}
	ctx, f := c.Request.Context(), c.Request.PostForm
	plat, err := s.Registry.PlatformByID(ctx, c.Param("id"))
	if errors.Is(err, lti.ErrUnknownPlatform) {
		s.fail(c, problem{Status: http.StatusNotFound, Heading: "No such platform",
			Message: "There is no platform at this address.", Code: "not_found"})
		return
	}
	if err != nil {
		s.internalError(c, "load platform", err)
		return
	}
	id, _ := strconv.ParseUint(plat.ID, 10, 64)
	var problems []string
	if p := f.Get("policy"); p != "" {
		if err := s.Registry.SetDeploymentPolicy(ctx, uint(id), p); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if f.Has("origins") {
		if err := s.Registry.SetOrigins(ctx, uint(id), fields(f.Get("origins"))); err != nil {
			problems = append(problems, err.Error())
		}
	}
	for _, d := range fields(f.Get("add_deployment")) {
		if err := s.Registry.AddDeployment(ctx, uint(id), d); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		s.renderAdmin(c, http.StatusBadRequest, sess, u, adminView{Problem: strings.Join(problems, " ")})
		return
	}
	s.renderAdmin(c, http.StatusOK, sess, u, adminView{Notice: "Saved."})
}

// adminCreateInvite creates a dynamic registration URL (POST
// /hub/admin/lti/invites) and shows it once.
func (s *Server) adminCreateInvite(c *gin.Context) {
	sess, u, ok := s.adminPost(c)
	if !ok {
		return
	}
	days := 7
	if v := strings.TrimSpace(c.Request.PostForm.Get("days")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 90 {
			s.renderAdmin(c, http.StatusBadRequest, sess, u, adminView{
				Problem: fmt.Sprintf("A registration URL is valid for 1 to 90 days, not %q. Nothing was created.", v)})
			return
		}
		days = n
	}
	token, _, err := s.Registry.CreateInvite(c.Request.Context(), time.Duration(days)*24*time.Hour,
		strings.TrimSpace(c.Request.PostForm.Get("note")))
	if err != nil {
		s.internalError(c, "create invite", err)
		return
	}
	s.logger(c).Info("created registration invite", "admin", u.Name, "days", days)
	s.Manager.Audit(c.Request.Context(), *u, "invite.create", nil, "", fmt.Sprintf("valid %d days", days))
	s.renderAdmin(c, http.StatusOK, sess, u, adminView{NewInvite: RegistrationURL(s.PublicURL, token)})
}

// RegistrationURL is the dynamic registration URL of an invite, the one an
// LMS administrator pastes into the LMS.
func RegistrationURL(publicURL, invite string) string {
	return publicURL + "lti/register?invite=" + url.QueryEscape(invite)
}

// adminRotateKeys rotates the tool keys (POST /hub/admin/lti/keys/rotate).
func (s *Server) adminRotateKeys(c *gin.Context) {
	sess, u, ok := s.adminPost(c)
	if !ok {
		return
	}
	kid, err := s.Keys.Rotate(c.Request.Context(), c.Request.PostForm.Get("force") != "")
	var tooSoon *toolkey.TooSoonError
	if errors.As(err, &tooSoon) {
		s.renderAdmin(c, http.StatusConflict, sess, u, adminView{Problem: "The next key was published at " +
			tooSoon.Ready.Add(-toolkey.MinPublished).UTC().Format(time.RFC3339) +
			"; platforms that cache Labhub's keyset may not have it yet. Rotate after " +
			tooSoon.Ready.UTC().Format(time.RFC3339) + ", or force the rotation."})
		return
	}
	if err != nil {
		s.internalError(c, "rotate keys", err)
		return
	}
	s.logger(c).Info("rotated tool keys", "admin", u.Name, "kid", kid)
	s.Manager.Audit(c.Request.Context(), *u, "toolkey.rotate", nil, "", "key "+kid+" signs")
	s.renderAdmin(c, http.StatusOK, sess, u, adminView{Notice: "Key " + kid + " signs from now on."})
}
