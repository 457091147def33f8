package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/store"
)

// errBlocked is the answer of a valid session or token whose user is
// blocked.
var errBlocked = errors.New("user is blocked")

// blockedMessage is what a blocked user's API call is told.
const blockedMessage = "this user is blocked from Labhub; its sessions and tokens no longer work"

// admit reports errBlocked when u may not use Labhub by any method. Every
// way a request is authenticated (session cookie, personal API token,
// OAuth token, a server's own token) goes through it.
func (s *Server) admit(u *store.User) error {
	if s.blocked(u) {
		return errBlocked
	}
	return nil
}

// sessionOf returns the session of r's hub cookie and its user:
// auth.ErrNoSession when there is none or it is not valid, errBlocked when
// its user is blocked.
func (s *Server) sessionOf(r *http.Request) (*store.Session, *store.User, error) {
	ck, err := r.Cookie(auth.SessionCookie)
	if err != nil {
		return nil, nil, auth.ErrNoSession
	}
	sess, u, err := s.Auth.Session(r.Context(), ck.Value)
	if err != nil {
		return nil, nil, err
	}
	if err := s.admit(u); err != nil {
		return nil, u, err
	}
	return sess, u, nil
}

// tokenOf returns the token of r's Authorization header and its user:
// auth.ErrInvalidToken when there is none or it is not valid, errBlocked
// when its user is blocked.
func (s *Server) tokenOf(r *http.Request) (*store.Token, *store.User, error) {
	t, u, err := s.Auth.Lookup(r.Context(), bearer(r))
	if err != nil {
		return nil, nil, err
	}
	if err := s.admit(u); err != nil {
		return nil, u, err
	}
	return t, u, nil
}

// refuseBlocked answers a page request or a launch of the blocked user
// name; attrs add to what is logged.
func (s *Server) refuseBlocked(c *gin.Context, name string, attrs ...any) {
	s.logger(c).Warn("refused blocked user", append([]any{"user", name, "path", c.Request.URL.Path}, attrs...)...)
	s.fail(c, problem{Status: http.StatusForbidden, Heading: "This account may not use Labhub",
		Message: "Labhub does not let this account log in, and its sessions no longer work.",
		Action:  "If you think this is a mistake, tell your teacher.", Code: "blocked_user"})
}

// refuseBlockedAPI answers an API call of a blocked user's token or
// session.
func (s *Server) refuseBlockedAPI(c *gin.Context, u *store.User) {
	s.logger(c).Warn("refused blocked user", "user", u.Name, "path", c.Request.URL.Path)
	apiError(c, http.StatusForbidden, blockedMessage)
}
