package lms

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Launches inside the course page. Moodle's "Embed, without blocks" launch
// container shows the activity page (view.php) with an iframe whose source
// (launch.php) answers with the auto-submitting login initiation, so the
// whole LTI 1.3 dance happens inside the iframe, cross-site from the tool's
// point of view.

// loginTicket logs a browser in once, for tests that drive a real browser.
type loginTicket struct {
	user    User
	next    string
	created time.Time
}

const ticketLife = 5 * time.Minute

// EmbedURL returns a one-time URL that logs a browser in as u and opens the
// activity page of l in c, which embeds the tool with client id client in
// an iframe. It enrols u and registers l like a launch does.
func (p *Platform) EmbedURL(u User, c Course, l Link, client string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, err := p.launchableToolLocked(client)
	if err != nil {
		return "", fmt.Errorf("embed url: %w", err)
	}
	p.enrolLocked(c, u, nil)
	st := p.linkLocked(c, l, t)
	ticket := randomString(32, hexDigits)
	now := p.now()
	for k, tk := range p.tickets {
		if now.Sub(tk.created) > ticketLife {
			delete(p.tickets, k)
		}
	}
	p.tickets[ticket] = &loginTicket{user: u, created: now,
		next: p.endpointLocked("/mod/lti/view.php") + "?id=" + strconv.Itoa(st.cmid)}
	return p.endpointLocked("/login/index.php") + "?ticket=" + ticket, nil
}

// handleTicketLogin consumes a login ticket: it sets the session cookie and
// sends the browser on.
func (p *Platform) handleTicketLogin(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	tk := p.tickets[r.URL.Query().Get("ticket")]
	delete(p.tickets, r.URL.Query().Get("ticket"))
	var cookie *http.Cookie
	if tk != nil && p.now().Sub(tk.created) <= ticketLife {
		cookie = p.loginLocked(tk.user)
	}
	p.mu.Unlock()
	if cookie == nil {
		renderError(w, http.StatusForbidden, "Invalid login", "This login link is not valid.")
		return
	}
	http.SetCookie(w, cookie)
	http.Redirect(w, r, tk.next, http.StatusSeeOther)
}

// activityLocked finds the activity with course module id cmid and the
// tool and course it belongs to.
func (p *Platform) activityLocked(cmid string) (*linkState, *Tool, Course, bool) {
	n, err := strconv.Atoi(cmid)
	if err != nil {
		return nil, nil, Course{}, false
	}
	for k, ls := range p.links {
		if ls.cmid != n {
			continue
		}
		t := p.toolByTypeLocked(k.typeID)
		cs := p.courses[k.course]
		if t == nil || cs == nil {
			return nil, nil, Course{}, false
		}
		return ls, t, cs.course, true
	}
	return nil, nil, Course{}, false
}

// handleView is view.php?id=<cmid>: the activity page that embeds the tool.
func (p *Platform) handleView(w http.ResponseWriter, r *http.Request) {
	cmid := r.URL.Query().Get("id")
	p.mu.Lock()
	sess := p.sessionLocked(r)
	ls, _, c, ok := p.activityLocked(cmid)
	var link Link
	if ok {
		link = ls.link
	}
	storage := p.storageTarget
	launchURL := p.endpointLocked("/mod/lti/launch.php") + "?id=" + cmid
	storageFrame := p.endpointLocked("/mod/lti/post_message_forwarding.php")
	p.mu.Unlock()
	if sess == nil {
		renderError(w, http.StatusForbidden, "Login required", "You are not logged in.")
		return
	}
	if !ok {
		renderError(w, http.StatusNotFound, "Invalid course module ID", "There is no such activity.")
		return
	}
	render(w, http.StatusOK, "view.html", struct {
		Course                                 Course
		Link                                   Link
		StorageTarget, LaunchURL, StorageFrame string
	}{c, link, storage, launchURL, storageFrame})
}

// handleEmbedLaunch is launch.php?id=<cmid> inside the activity page's
// iframe: the login initiation of the logged-in user, auto-submitted.
func (p *Platform) handleEmbedLaunch(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	sess := p.sessionLocked(r)
	ls, t, c, ok := p.activityLocked(r.URL.Query().Get("id"))
	if sess == nil || !ok || t.Pending || t.LoginURL == "" {
		p.mu.Unlock()
		renderError(w, http.StatusForbidden, "Invalid request", "This activity cannot be launched.")
		return
	}
	u := sess.user
	if m := p.memberLocked(c.ID, u.ID); m != nil {
		u.Roles = m.roles
	}
	launchID := "ltilaunch" + ls.link.ID + "_" + strconv.FormatInt(randomLaunchID(), 10)
	hint, err := marshalJSON(jsonObject{{"cmid", ls.cmid}, {"launchid", launchID}})
	if err != nil {
		p.mu.Unlock()
		renderError(w, http.StatusInternalServerError, "Error", "The launch could not be started.")
		return
	}
	p.addPendingLocked(launchID, string(hint), launch{
		user: u, course: c, link: ls.link, tool: t, state: ls, launchID: randomLaunchID(), embedded: true,
	})
	form := p.loginFormLocked(t, c, u, t.TargetLinkURI, string(hint))
	action := t.LoginURL
	p.mu.Unlock()
	renderAutoSubmit(w, autoSubmit{Title: "Launching", FormID: "ltiInitiateLoginForm", Action: action,
		Fields: form, Message: "Press Continue to open the activity."})
}

// handleStorageFrame is the hidden frame that answers platform storage
// messages (Canvas' post_message_forwarding).
func (p *Platform) handleStorageFrame(w http.ResponseWriter, _ *http.Request) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, "storageframe", nil); err != nil {
		http.Error(w, "template error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}
