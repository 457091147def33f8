package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/store"
)

// apiCaller authenticates a call to Labhub's own JSON API (/api/...) by the
// token in its Authorization header ("token X" or "Bearer X"): a personal
// API token (labhub token create) or a server's own token. Handlers then
// check what the token's user may do, and auth.HasScope when the token
// carries scopes. A missing or bad token gets a 401 JSON answer, a blocked
// user's token a 403.
func (s *Server) apiCaller(c *gin.Context) (*store.Token, *store.User, bool) {
	t, u, err := s.tokenOf(c.Request)
	if errors.Is(err, errBlocked) {
		s.refuseBlockedAPI(c, u)
		return nil, nil, false
	}
	if errors.Is(err, auth.ErrInvalidToken) {
		c.Header("WWW-Authenticate", `Bearer realm="labhub"`)
		apiError(c, http.StatusUnauthorized, "a valid API token is required (Authorization: Bearer <token>)")
		return nil, nil, false
	}
	if err != nil {
		s.log.Error("failed to check api token", "error", err)
		apiError(c, http.StatusInternalServerError, "token check failed")
		return nil, nil, false
	}
	return t, u, true
}
