package lms

import (
	"net/http"
	"time"
)

// SessionCookie is the name of the platform's session cookie. Moodle names
// its cookie MoodleSession plus a configurable suffix.
const SessionCookie = "MoodleSessionlms"

// session is a logged-in platform user.
type session struct {
	user    User
	sesskey string // Moodle's per-session CSRF key, visible in return URLs
	created time.Time
}

// Login logs u into the platform and returns the session cookie a browser
// would then hold, scoped to the issuer's path. The auth endpoint checks
// login_hint against this session's user.
func (p *Platform) Login(u User) *http.Cookie {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.loginLocked(u)
}

func (p *Platform) loginLocked(u User) *http.Cookie {
	now := p.now()
	// Sessions of a long-running demo would otherwise pile up; Moodle's own
	// default session timeout is eight hours.
	for id, s := range p.sessions {
		if now.Sub(s.created) > 8*time.Hour {
			delete(p.sessions, id)
		}
	}
	id := randomString(26, "abcdefghijklmnopqrstuvwxyz0123456789")
	p.sessions[id] = &session{
		user:    u,
		sesskey: randomString(10, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"),
		created: now,
	}
	c := &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true}
	if p.issuer != nil {
		if path := p.issuer.EscapedPath(); path != "" {
			c.Path = path
		}
		// Moodle marks its cookie SameSite=None on HTTPS so that launches
		// from inside iframes keep the session.
		if p.issuer.Scheme == "https" {
			c.Secure, c.SameSite = true, http.SameSiteNoneMode
		}
	}
	return c
}

// sessionLocked returns the session of the request's cookie, or nil.
func (p *Platform) sessionLocked(r *http.Request) *session {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil
	}
	return p.sessions[c.Value]
}
