package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/store"
)

// apiRoot answers GET /hub/api, which jupyterhub-singleuser calls at start to
// read the hub's version; the version must parse as PEP 440.
func (s *Server) apiRoot(c *gin.Context) {
	c.Header("Access-Control-Allow-Origin", "*")
	c.JSON(http.StatusOK, gin.H{"version": s.CompatVersion})
}

// bearer returns the token of an API request: "Authorization: token X" or
// "bearer X" (any case).
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, v, ok := strings.Cut(h, " ")
	if ok && (strings.EqualFold(scheme, "token") || strings.EqualFold(scheme, "bearer")) {
		return strings.TrimSpace(v)
	}
	return ""
}

// apiToken authenticates an API request by its token. JupyterHub answers an
// unknown token with 403, and singleuser relies on that; a blocked user's
// token gets a 403 too.
func (s *Server) apiToken(c *gin.Context) (*store.Token, *store.User, bool) {
	t, u, err := s.tokenOf(c.Request)
	if errors.Is(err, errBlocked) {
		s.refuseBlockedAPI(c, u)
		return nil, nil, false
	}
	if errors.Is(err, auth.ErrInvalidToken) {
		apiError(c, http.StatusForbidden, "Invalid or missing token")
		return nil, nil, false
	}
	if err != nil {
		s.log.Error("failed to check token", "error", err)
		apiError(c, http.StatusInternalServerError, "token check failed")
		return nil, nil, false
	}
	return t, u, true
}

// apiUser answers GET /hub/api/user: who a token belongs to and what it may
// do.
func (s *Server) apiUser(c *gin.Context) {
	t, u, ok := s.apiToken(c)
	if !ok {
		return
	}
	var session any
	if t.SessionID != "" {
		session = t.SessionID
	}
	c.JSON(http.StatusOK, gin.H{
		"kind":          "user",
		"name":          u.Name,
		"admin":         u.Admin,
		"groups":        []string{},
		"roles":         []string{"user"},
		"scopes":        auth.Scopes(t),
		"session_id":    session,
		"token_id":      "a" + strconv.FormatUint(uint64(t.ID), 10),
		"created":       isoTime(u.CreatedAt),
		"last_activity": isoTimePtr(u.LastActivity),
	})
}

func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

func isoTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return isoTime(*t)
}

// oauthAuthorize handles GET /hub/api/oauth2/authorize: a browser sent by a
// notebook server to log in. A logged-in owner gets a code at once.
func (s *Server) oauthAuthorize(c *gin.Context) {
	sess, u, err := s.sessionOf(c.Request)
	if errors.Is(err, errBlocked) {
		s.refuseBlocked(c, u.Name)
		return
	}
	if err != nil {
		next := c.Request.URL.RequestURI()
		c.Redirect(http.StatusFound, s.base+"hub/login?next="+url.QueryEscape(next))
		return
	}
	q := c.Request.URL.Query()
	if rt := q.Get("response_type"); rt != "code" {
		s.fail(c, problem{Status: http.StatusBadRequest, Heading: "Unsupported login request",
			Message: "The notebook server asked for a login Labhub does not offer.", Code: "unsupported_response_type"})
		return
	}
	code, err := s.Auth.Authorize(c.Request.Context(), u, sess, q.Get("client_id"), q.Get("redirect_uri"))
	var oe *auth.OAuthError
	if errors.As(err, &oe) {
		s.logger(c).Info("refused oauth authorization", "user", u.Name, "client_id", q.Get("client_id"), "code", oe.Code, "detail", oe.Detail)
		if oe.Status == http.StatusForbidden {
			s.fail(c, problem{Status: http.StatusForbidden, Heading: "This is not your server",
				Message: "You are logged in as " + u.Name + ", and this notebook server belongs to someone else.",
				Action:  "Open your own server from your course in the LMS.", Code: oe.Code})
			return
		}
		s.fail(c, problem{Status: oe.Status, Heading: "Login to the notebook server failed",
			Message: "The notebook server sent a login request Labhub cannot accept. Restart your server from the course.", Code: oe.Code})
		return
	}
	if err != nil {
		s.internalError(c, "authorize", err)
		return
	}
	redirect := q.Get("redirect_uri")
	v := url.Values{"code": {code}}
	if st := q.Get("state"); st != "" {
		v.Set("state", st)
	}
	sep := "?"
	if strings.Contains(redirect, "?") {
		sep = "&"
	}
	c.Redirect(http.StatusFound, redirect+sep+v.Encode())
}

// oauthToken handles POST /hub/api/oauth2/token, where a notebook server
// trades a code for its user's access token.
func (s *Server) oauthToken(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10)
	if err := c.Request.ParseForm(); err != nil {
		oauthErr(c, &auth.OAuthError{Status: 400, Code: "invalid_request", Detail: "malformed form"})
		return
	}
	f := c.Request.PostForm
	if gt := f.Get("grant_type"); gt != "authorization_code" {
		oauthErr(c, &auth.OAuthError{Status: 400, Code: "unsupported_grant_type", Detail: "only authorization_code is supported"})
		return
	}
	id, secret := f.Get("client_id"), f.Get("client_secret")
	if bid, bsecret, ok := c.Request.BasicAuth(); ok {
		id, secret = bid, bsecret
	}
	g, err := s.Auth.Exchange(c.Request.Context(), id, secret, f.Get("code"), f.Get("redirect_uri"))
	var oe *auth.OAuthError
	if errors.As(err, &oe) {
		s.logger(c).Info("refused oauth token", "client_id", id, "code", oe.Code, "detail", oe.Detail)
		oauthErr(c, oe)
		return
	}
	if err != nil {
		s.log.Error("failed to exchange oauth code", "error", err)
		oauthErr(c, &auth.OAuthError{Status: 500, Code: "server_error", Detail: "exchange failed"})
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"access_token": g.AccessToken, "token_type": "Bearer",
		"expires_in": g.ExpiresIn, "scope": strings.Join(g.Scopes, " ")})
}

func oauthErr(c *gin.Context, e *auth.OAuthError) {
	c.AbortWithStatusJSON(e.Status, gin.H{"error": e.Code, "error_description": e.Detail})
}

// activityBody is what singleuser posts to the activity endpoint.
type activityBody struct {
	LastActivity *string `json:"last_activity"`
	Servers      map[string]struct {
		LastActivity *string `json:"last_activity"`
	} `json:"servers"`
}

// apiActivity handles POST /hub/api/users/<name>/activity with the rules
// JupyterHub applies: a server must belong to the user, timestamps must
// parse and not lie more than an hour in the future, and activity only moves
// forward.
func (s *Server) apiActivity(c *gin.Context) {
	t, u, ok := s.apiToken(c)
	if !ok {
		return
	}
	name := c.Param("user")
	if u.Name != name || !auth.HasScope(auth.Scopes(t), "users:activity!user="+name) {
		apiError(c, http.StatusForbidden, "Action is not authorized with current scopes; requires users:activity")
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10))
	if err != nil {
		apiError(c, http.StatusBadRequest, "body too large")
		return
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		apiError(c, http.StatusBadRequest, "body must be a JSON object")
		return
	}
	var body activityBody
	if err := json.Unmarshal(raw, &body); err != nil {
		apiError(c, http.StatusBadRequest, "malformed activity: "+err.Error())
		return
	}
	if body.LastActivity == nil && body.Servers == nil {
		apiError(c, http.StatusBadRequest, "body has no activity")
		return
	}
	now := time.Now()
	parse := func(v *string) (time.Time, error) {
		if v == nil {
			return time.Time{}, errors.New("missing last_activity")
		}
		ts, err := parseTimestamp(*v)
		if err != nil {
			return time.Time{}, err
		}
		if ts.Sub(now) > 59*time.Minute {
			return time.Time{}, fmt.Errorf("last_activity %s is in the future", *v)
		}
		return ts, nil
	}
	ctx := c.Request.Context()
	type update struct {
		server string
		at     time.Time
	}
	var updates []update
	for server, v := range body.Servers {
		ts, err := parse(v.LastActivity)
		if err != nil {
			apiError(c, http.StatusBadRequest, err.Error())
			return
		}
		if _, owner, err := s.Manager.Find(ctx, u.Name, server); err != nil || owner == nil {
			apiError(c, http.StatusBadRequest, fmt.Sprintf("user %s has no server %q", u.Name, server))
			return
		}
		updates = append(updates, update{server, ts})
	}
	if body.LastActivity != nil {
		if _, err := parse(body.LastActivity); err != nil {
			apiError(c, http.StatusBadRequest, err.Error())
			return
		}
	}
	for _, up := range updates {
		if err := s.Manager.RecordActivity(ctx, *u, up.server, up.at); err != nil {
			apiError(c, http.StatusBadRequest, fmt.Sprintf("user %s has no server %q", u.Name, up.server))
			return
		}
	}
	c.Status(http.StatusOK)
}

// parseTimestamp reads the ISO 8601 timestamps singleuser sends
// ("2024-05-01T12:00:03.123456Z"), with or without a zone (naive is UTC).
func parseTimestamp(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("last_activity %q is not an ISO 8601 timestamp", v)
}

// apiProgress streams a server's start as server-sent events (GET
// /hub/api/users/<name>/servers/<server>/progress), for the owner's browser
// or a token of the owner.
func (s *Server) apiProgress(c *gin.Context) {
	var u *store.User
	if bearer(c.Request) != "" {
		var ok bool
		if _, u, ok = s.apiToken(c); !ok {
			return
		}
	} else {
		var err error
		_, u, err = s.sessionOf(c.Request)
		if errors.Is(err, errBlocked) {
			s.refuseBlockedAPI(c, u)
			return
		}
		if err != nil {
			apiError(c, http.StatusForbidden, "not logged in")
			return
		}
	}
	srv, owner, err := s.Manager.Find(c.Request.Context(), c.Param("user"), c.Param("server"))
	if err != nil || owner.ID != u.ID {
		apiError(c, http.StatusNotFound, "no such server")
		return
	}
	past, ch, stop, err := s.Manager.Watch(c.Request.Context(), srv.ID)
	if err != nil {
		apiError(c, http.StatusInternalServerError, "cannot watch server")
		return
	}
	defer stop()
	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		w.Flush()
		return true
	}
	for _, e := range past {
		if !send(e) {
			return
		}
	}
	keepalive := time.NewTicker(8 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case e, ok := <-ch:
			if !ok || !send(e) {
				return
			}
		case <-keepalive.C:
			if _, err := io.WriteString(w, "\n\n"); err != nil {
				return
			}
			w.Flush()
		case <-c.Request.Context().Done():
			return
		}
	}
}
