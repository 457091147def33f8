package web

import (
	"net/http"
)

// HelpGuard is the proxy's guard (proxy.Options.Guard). While an instructor
// may be looking at a student's server for help, requests to it that do not
// come from its owner (by the hub session or the owner's own token) may only
// read: GET and HEAD without a protocol upgrade, so no kernel, terminal,
// save or upload. Other servers pass untouched.
func (s *Server) HelpGuard(w http.ResponseWriter, r *http.Request, user, server string) bool {
	ctx := r.Context()
	if !s.Manager.HelpGuarded(ctx, user, server) {
		return true
	}
	if s.ownerRequest(r, user) {
		return true
	}
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.Header.Get("Upgrade") == "" {
		return true
	}
	s.log.Info("refused write to a server opened for help", "user", user, "server", server, "method", r.Method,
		"remote_addr", s.clientIP(r))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(`{"status":403,"message":"This server is open to you read-only, for helping its owner: you can look but not run code or change files."}` + "\n"))
	return false
}

// ownerRequest reports whether r carries the hub session or an API token of
// the user called owner, who is not blocked.
func (s *Server) ownerRequest(r *http.Request, owner string) bool {
	if _, u, err := s.sessionOf(r); err == nil && u.Name == owner {
		return true
	}
	if bearer(r) != "" {
		if _, u, err := s.tokenOf(r); err == nil && u.Name == owner {
			return true
		}
	}
	return false
}
