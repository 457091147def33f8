package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/advantage"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/store"
)

// Dynamic registration policies (AdvantageOptions.Registration).
const (
	// RegistrationInvite accepts registrations that carry an invite an
	// administrator created (labhub lti13 invite, or the admin console).
	RegistrationInvite = "invite"
	// RegistrationOpen accepts any platform that registers itself.
	RegistrationOpen = "open"
	// RegistrationOff turns dynamic registration off.
	RegistrationOff = "off"
)

// AdvantageOptions configures what Labhub offers LMSs beyond plain
// launches: dynamic registration, deep linking, roster sync and launches
// inside LMS pages.
type AdvantageOptions struct {
	// Registration is the dynamic registration policy: RegistrationInvite,
	// RegistrationOpen or RegistrationOff. If empty, RegistrationInvite.
	Registration string
	// Registrar talks to platforms during dynamic registration. If nil, a
	// client with a 20 s timeout is used.
	Registrar *advantage.Registrar
	// Roster syncs course rosters after teachers' launches. If nil, rosters
	// are not synced.
	Roster *course.RosterSyncer
	// FrameAncestors are origins, besides the registered platforms', whose
	// pages may show Labhub in a frame (for LTI 1.1 consumers).
	FrameAncestors []string
}

// advantageRoutes adds the LTI Advantage routes.
func (s *Server) advantageRoutes(g *gin.RouterGroup) {
	g.GET("/lti/login/:platform", s.lti13Login)
	g.POST("/lti/login/:platform", s.lti13Login)
	g.POST("/lti/launch/continue", s.lti13Continue)
	g.GET("/lti/register", s.register)
	g.GET("/lti/config.json", s.toolConfigJSON)
	g.GET("/lti11/config.xml", s.toolConfigXML)
	g.POST("/lti/deep-link", s.deepLinkSubmit)
	g.GET("/hub/admin/lti", s.adminLTI)
	g.POST("/hub/admin/lti/platforms", s.adminAddPlatform)
	g.POST("/hub/admin/lti/platforms/:id", s.adminUpdatePlatform)
	g.POST("/hub/admin/lti/invites", s.adminCreateInvite)
	g.POST("/hub/admin/lti/keys/rotate", s.adminRotateKeys)
}

// FrameAncestors returns the origins whose pages may frame Labhub's pages
// and the notebook pages it proxies: every registered platform's origins
// and AdvantageOptions.FrameAncestors.
//
// TODO: the list is the same for every page; a course's pages could be
// framed by its own platform only, which needs the proxy to know each
// route's platform.
func (s *Server) FrameAncestors() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := slices.Clone(s.Advantage.FrameAncestors)
	if s.Registry != nil {
		origins, err := s.Registry.FrameAncestors(ctx)
		if err != nil {
			s.log.Warn("failed to load frame ancestors", "error", err)
		}
		for _, o := range origins {
			if !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	return out
}

// frameAncestorsPolicy is the Content-Security-Policy of Labhub's pages:
// only Labhub itself and the LMSs it knows may frame them.
func frameAncestorsPolicy(origins []string) string {
	return strings.TrimSpace("frame-ancestors 'self' " + strings.Join(origins, " "))
}

// frameHeaders sets the frame policy of a response.
func (s *Server) frameHeaders(c *gin.Context) {
	c.Writer.Header().Set("Content-Security-Policy", frameAncestorsPolicy(s.FrameAncestors()))
}

// sameOrigin reports whether a request was sent by one of Labhub's own pages:
// Sec-Fetch-Site says same-origin, or, from browsers without it, Origin is
// Labhub's public origin. Cross-site form posts, which an attacker's page
// can make, are neither.
func (s *Server) sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	origin := r.Header.Get("Origin")
	return origin != "" && (origin == s.origin || origin == originOfURL(s.externalURL(r)))
}

func originOfURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return ""
	}
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}

// Signed blobs carry state through the browser where Labhub keeps none: the
// deep linking request a picker answers, and the ticket that continues a
// launch in a new tab. Each kind has its own key.

var errBlob = errors.New("the signed data is forged, malformed or expired")

type blobEnvelope struct {
	Expires int64           `json:"e"`
	Data    json.RawMessage `json:"d"`
}

func (s *Server) blobKey(kind string) []byte {
	m := hmac.New(sha256.New, s.CookieKey)
	m.Write([]byte("labhub-blob\x00" + kind))
	return m.Sum(nil)
}

// signBlob returns v, valid for ttl, as URL-safe signed text.
func (s *Server) signBlob(kind string, v any, ttl time.Duration) (string, error) {
	d, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(blobEnvelope{Expires: time.Now().Add(ttl).Unix(), Data: d})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding.EncodeToString(body)
	m := hmac.New(sha256.New, s.blobKey(kind))
	m.Write([]byte(enc))
	return enc + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// openBlob verifies signed text of kind and decodes it into v.
func (s *Server) openBlob(kind, raw string, v any) error {
	enc, sig, ok := strings.Cut(raw, ".")
	if !ok || len(raw) > 16<<10 {
		return errBlob
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	m := hmac.New(sha256.New, s.blobKey(kind))
	m.Write([]byte(enc))
	if err != nil || !hmac.Equal(mac, m.Sum(nil)) {
		return errBlob
	}
	body, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return errBlob
	}
	var env blobEnvelope
	if err := json.Unmarshal(body, &env); err != nil || time.Now().Unix() >= env.Expires {
		return errBlob
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		return errBlob
	}
	return nil
}

// afterLaunch starts what a recorded LTI 1.3 launch triggers in the
// background: a teacher's launch syncs the course roster.
func (s *Server) afterLaunch(provider string, l *lti.Launch, e *course.Enrolled) {
	if s.Advantage.Roster == nil || l.Version != "1.3" || l.NRPS == nil || l.NRPS.MembershipsURL == "" ||
		!course.IsTeacher(e.Enrollment.Role) {
		return
	}
	id, ok := strings.CutPrefix(provider, "lti13:")
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := s.Registry.PlatformByID(ctx, id)
	if err != nil {
		s.log.Warn("failed to load platform for roster sync", "platform_id", id, "error", err)
		return
	}
	s.Advantage.Roster.Trigger(p, provider, e.Course.ID, l.NRPS.MembershipsURL)
}

// platformStoreID returns the store id of an lti.Platform.
func platformStoreID(p lti.Platform) (uint, error) {
	n, err := strconv.ParseUint(p.ID, 10, 64)
	return uint(n), err
}

// launchSession logs the browser in as u after a verified launch (of
// finishLaunch, a new tab's ticket, a deep linking request). On failure it
// has answered.
func (s *Server) launchSession(c *gin.Context, u *store.User, method string) bool {
	return s.admitLaunch(c, u, method) && s.startSession(c, u, method)
}

// finishLaunchInNewTab finishes a verified launch in a page that keeps no
// cookies: the launch is recorded and the server started as usual, and a
// ticket lets a new tab log in.
func (s *Server) finishLaunchInNewTab(c *gin.Context, provider string, l *lti.Launch) {
	ctx := c.Request.Context()
	s.metrics.launches.WithLabelValues(l.Version, "ok").Inc()
	e, ok := s.recordLaunch(c, provider, "lti13", l)
	if !ok {
		return
	}
	if !s.admitLaunch(c, &e.User, "lti13") {
		return
	}
	s.afterLaunch(provider, l, e)
	s.logger(c).Info("accepted launch without cookies", "lti_version", l.Version, "user", e.User.Name,
		"course", e.Course.Slug, "role", e.Enrollment.Role)
	st, err := s.Manager.Ensure(ctx, startRequest(e))
	if err != nil {
		s.internalError(c, "start server", err)
		return
	}
	s.ticketPage(c, launchTicket{UserID: e.User.ID, Server: st.Server.Name, Method: "lti13"})
}
