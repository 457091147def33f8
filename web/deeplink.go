package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/store"
)

// A deep linking request is answered with a picker: the teacher chooses an
// image from the catalog, a starting notebook or folder, a title and the
// maximum points, and Labhub posts a signed LtiDeepLinkingResponse with one
// ltiResourceLink back to the LMS. The choice travels as the link's custom
// parameters, which the LMS sends with every launch of the link.

// pickRequest is the deep linking request a picker answers. It travels
// signed in the picker form, so the picker needs no cookie: LMSs show it
// inside their pages, where browsers may refuse Labhub's cookies.
type pickRequest struct {
	PlatformID     string   `json:"p"`
	DeploymentID   string   `json:"d"`
	ReturnURL      string   `json:"r"`
	Data           string   `json:"a,omitempty"`
	AcceptTypes    []string `json:"t,omitempty"`
	AcceptMultiple bool     `json:"m,omitempty"`
}

// pickTTL is how long a teacher may take to fill in the picker.
const pickTTL = time.Hour

// maxPoints bounds the maximum points of an activity.
const maxPoints = 100000

// pickForm is what the picker shows and what a teacher submitted.
type pickForm struct {
	Request, Title, Image, Start, Points string
	Images                               []store.Image
	Problems                             []string
}

// checkDeepLinker refuses a deep linking request from someone who is no
// teacher of the course: only teachers may add activities. The launch
// verifier runs it, before the request's nonce is recorded.
func checkDeepLinker(l *lti.Launch) error {
	if l.MessageType != lti.MessageDeepLinking || l.Roles.Course >= lti.RoleInstructor || l.Roles.SystemAdmin {
		return nil
	}
	return &lti.Error{Code: codeNotTeacher, Status: http.StatusForbidden,
		Detail: "a deep linking request from someone who is no teacher of the course"}
}

// deepLinkPicker answers a verified deep linking request with the picker;
// [checkDeepLinker] has accepted it. When the request names the teacher and
// the course, the launch is recorded like any other, so the teacher's
// course and roster are there before the first student arrives.
func (s *Server) deepLinkPicker(c *gin.Context, provider string, p lti.Platform, l *lti.Launch) {
	s.metrics.launches.WithLabelValues(l.Version, "deep_linking").Inc()
	if l.Subject != "" && l.Context.ID != "" {
		e, ok := s.recordLaunch(c, provider, "lti13", l)
		if !ok {
			return
		}
		if !s.launchSession(c, &e.User, "lti13") {
			return
		}
		s.afterLaunch(provider, l, e)
	}
	raw, err := s.signBlob("deep-link", pickRequest{PlatformID: p.ID, DeploymentID: l.DeploymentID,
		ReturnURL: l.DeepLinking.ReturnURL, Data: l.DeepLinking.Data, AcceptTypes: l.DeepLinking.AcceptTypes,
		AcceptMultiple: l.DeepLinking.AcceptMultiple}, pickTTL)
	if err != nil {
		s.internalError(c, "sign deep linking request", err)
		return
	}
	title := strings.TrimSpace(l.DeepLinking.Title)
	if title == "" {
		title = "Jupyter notebook"
	}
	s.renderPicker(c, http.StatusOK, pickForm{Request: raw, Title: title})
}

func (s *Server) renderPicker(c *gin.Context, status int, f pickForm) {
	if err := s.DB.WithContext(c.Request.Context()).Order("name").Find(&f.Images).Error; err != nil {
		s.internalError(c, "list images", err)
		return
	}
	s.render(c, status, "deeplink.html", map[string]any{
		"Title": "Add a Labhub activity", "Base": s.base, "Action": s.base + "lti/deep-link", "Form": f,
	})
}

// deepLinkSubmit handles the picker (POST /lti/deep-link): it checks the
// choice and answers with the form that posts the signed response to the
// LMS. "Cancel" returns no item, which closes the LMS's dialog.
func (s *Server) deepLinkSubmit(c *gin.Context) {
	if !s.readForm(c) {
		return
	}
	ctx := c.Request.Context()
	form := c.Request.PostForm
	var req pickRequest
	if err := s.openBlob("deep-link", form.Get("request"), &req); err != nil {
		s.fail(c, problem{Status: http.StatusBadRequest, Heading: "This form has expired",
			Message: "The activity picker was open too long or was changed.",
			Action:  "Close this dialog and add the activity again from your course.", Code: "bad_request"})
		return
	}
	p, err := s.Registry.PlatformByID(ctx, req.PlatformID)
	if err != nil {
		s.internalError(c, "load platform", err)
		return
	}
	f := pickForm{Request: form.Get("request"), Title: strings.TrimSpace(form.Get("title")),
		Image: strings.TrimSpace(form.Get("image")), Start: form.Get("start"),
		Points: strings.TrimSpace(form.Get("points"))}
	var items []lti.ResourceLinkItem
	if form.Get("cancel") == "" {
		item, problems := s.pickedItem(c, &f)
		if len(problems) > 0 {
			f.Problems = problems
			s.renderPicker(c, http.StatusBadRequest, f)
			return
		}
		items = []lti.ResourceLinkItem{item}
	}
	key, err := s.Keys.Signer()
	if err != nil {
		s.internalError(c, "load signing key", err)
		return
	}
	l := &lti.Launch{DeploymentID: req.DeploymentID, DeepLinking: &lti.DeepLinkingSettings{
		ReturnURL: req.ReturnURL, Data: req.Data, AcceptTypes: req.AcceptTypes, AcceptMultiple: req.AcceptMultiple}}
	jwt, err := lti.DeepLinkingResponse(p, l, items, key, time.Now())
	if err != nil {
		s.internalError(c, "build deep linking response", err)
		return
	}
	s.logger(c).Info("answered deep linking request", "platform_issuer", p.Issuer, "items", len(items),
		"image", f.Image, "start_path", f.Start)
	s.render(c, http.StatusOK, "autopost.html", map[string]any{
		"Title": "Adding the activity", "Base": s.base, "Action": req.ReturnURL,
		"Fields": map[string]string{"JWT": jwt},
	})
}

// pickedItem checks a picker submission and returns the resource link it
// asks for, or what is wrong with it.
func (s *Server) pickedItem(c *gin.Context, f *pickForm) (lti.ResourceLinkItem, []string) {
	var problems []string
	if f.Title == "" {
		problems = append(problems, "Give the activity a title.")
	} else if len([]rune(f.Title)) > 255 {
		problems = append(problems, "Make the title shorter than 256 characters.")
	}
	custom := map[string]string{}
	if f.Image = course.ImageName(f.Image); f.Image != "" {
		var n int64
		err := s.DB.WithContext(c.Request.Context()).Model(&store.Image{}).Where("name = ?", f.Image).Count(&n).Error
		if err != nil || n == 0 {
			problems = append(problems, "Pick an image from the list.")
		} else {
			custom[course.CustomImage] = f.Image
		}
	}
	start, problem := course.ValidStartPath(f.Start)
	if problem != "" {
		problems = append(problems, problem)
	} else if start != "" {
		f.Start = start
		custom[course.CustomStart] = start
	}
	item := lti.ResourceLinkItem{Title: f.Title}
	if f.Points != "" {
		pts, err := strconv.ParseFloat(strings.ReplaceAll(f.Points, ",", "."), 64)
		if err != nil || !(pts > 0) || pts > maxPoints {
			problems = append(problems, "Give the maximum points as a number greater than 0 (or leave it empty for an ungraded activity).")
		} else {
			item.LineItem = &lti.LineItemSpec{ScoreMaximum: pts, Tag: "labhub"}
		}
	}
	if len(custom) > 0 {
		item.Custom = custom
	}
	return item, problems
}
