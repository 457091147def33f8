package lms

import (
	"encoding/json"
	"net/http"
	"strings"
)

// authOutcome is what the auth endpoint decided, computed under the lock and
// rendered after it.
type authOutcome struct {
	repost      bool   // show the cross-site repost page
	errorPage   string // non-empty: show Moodle's error page with this detail
	redirectURI string
	fields      Form
	claims      jsonObject // non-nil on success: sign and post as id_token
}

// handleAuth is /mod/lti/auth.php: the OIDC authorization endpoint of LTI 1.3
// launches. The checks and their order follow Moodle 4.5. Failures found
// before the pending launch is identified produce Moodle's error page,
// because until then there is no registered redirect URI to post an error
// to; later failures are posted back to the tool as error, error_description
// and state.
func (p *Platform) handleAuth(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		renderError(w, http.StatusBadRequest, "Invalid request", "The request could not be read.")
		return
	}
	out := p.authorize(r)
	switch {
	case out.repost:
		// Moodle re-posts the form to itself from its own origin, so that a
		// SameSite=Lax session cookie is sent the second time.
		fields := Form{}
		for k, vs := range r.PostForm {
			for _, v := range vs {
				fields = append(fields, Field{k, v})
			}
		}
		fields = append(fields, Field{"repost", "true"})
		renderAutoSubmit(w, autoSubmit{FormID: "repost", Action: out.redirectURI, Fields: fields})
		return
	case out.errorPage != "":
		renderError(w, http.StatusBadRequest, "Invalid request", out.errorPage)
		return
	}
	fields := out.fields
	if out.claims != nil {
		payload, err := marshalJSON(out.claims)
		if err != nil {
			renderError(w, http.StatusInternalServerError, "Error", "The launch could not be encoded.")
			return
		}
		tok, err := p.signPayload(payload)
		if err != nil {
			renderError(w, http.StatusInternalServerError, "Error", "The launch could not be signed.")
			return
		}
		fields = append(Form{{"id_token", tok}}, fields...)
	}
	renderAutoSubmit(w, autoSubmit{FormID: "ltiAuthForm", Action: out.redirectURI, Fields: fields})
}

// authorize validates an authorization request like Moodle's auth.php.
func (p *Platform) authorize(r *http.Request) authOutcome {
	f := r.Form
	p.mu.Lock()
	defer p.mu.Unlock()

	sess := p.sessionLocked(r)
	if sess == nil && f.Get("repost") == "" {
		action := p.endpointLocked(authPath)
		if r.URL.RawQuery != "" {
			action += "?" + r.URL.RawQuery
		}
		return authOutcome{repost: true, redirectURI: action}
	}

	var (
		scope        = f.Get("scope")
		responseType = f.Get("response_type")
		clientID     = f.Get("client_id")
		redirectURI  = f.Get("redirect_uri")
		loginHint    = f.Get("login_hint")
		messageHint  = f.Get("lti_message_hint")
		state        = f.Get("state")
		responseMode = f.Get("response_mode")
		nonce        = f.Get("nonce")
		prompt       = f.Get("prompt")
		errCode      string
		desc         string
	)
	// 1. Everything Moodle needs must be there.
	ok := scope != "" && responseType != "" && clientID != "" && redirectURI != "" &&
		loginHint != "" && nonce != ""
	if !ok {
		errCode = "invalid_request"
	}
	// 2. The message hint must carry the launchid Moodle put in it.
	launchID, hasLaunchID := parseLaunchID(messageHint)
	if ok = ok && hasLaunchID; !ok {
		errCode, desc = "invalid_request", "No launch id in LTI hint"
	}
	if ok && scope != "openid" {
		ok, errCode = false, "invalid_scope"
	}
	if ok && responseType != "id_token" {
		ok, errCode = false, "unsupported_response_type"
	}
	// 3. The pending launch is looked up and consumed: a launch is
	// authorized at most once.
	var pl *pendingLaunch
	if ok {
		pl = p.launches[launchID]
		delete(p.launches, launchID)
		switch {
		case pl == nil:
			ok = false
		case messageHint != pl.hint:
			// Moodle only reads the launchid, but the hint is opaque to the
			// tool; one that re-encodes it would break the next Moodle
			// version that reads more of it.
			ok, errCode, desc = false, "invalid_request", "lti_message_hint was altered"
		case clientID != pl.launch.tool.ClientID:
			ok, errCode = false, "unauthorized_client"
		}
	}
	// 4. The launch is for the logged-in user only.
	if ok && (sess == nil || loginHint != sess.user.ID || loginHint != pl.launch.user.ID) {
		ok, errCode = false, "access_denied"
	}
	// 5. Without a registration there is no trustworthy redirect URI.
	if pl == nil {
		return authOutcome{errorPage: "The launch request was not recognised."}
	}
	if !redirectAllowed(pl.launch.tool.RedirectURIs, redirectURI) {
		return authOutcome{errorPage: "The redirect URI is not registered for this tool."}
	}
	if ok && responseMode != "form_post" {
		ok, errCode, desc = false, "invalid_request", "Invalid response_mode"
	}
	if ok && prompt != "" && prompt != "none" {
		ok, errCode, desc = false, "invalid_request", "Invalid prompt"
	}
	out := authOutcome{redirectURI: redirectURI}
	if ok {
		l := pl.launch
		l.sesskey = sess.sesskey
		out.claims = p.launchClaimsLocked(l, nonce)
	} else {
		out.fields = Form{{"error", errCode}}
		if desc != "" {
			out.fields = append(out.fields, Field{"error_description", desc})
		}
	}
	// Moodle always echoes state, even when the request had none.
	out.fields = append(out.fields, Field{"state", state})
	if p.storageTarget != "" {
		// Canvas repeats the storage target in the launch.
		out.fields = append(out.fields, Field{"lti_storage_target", p.storageTarget})
	}
	return out
}

// parseLaunchID returns the launchid of a Moodle lti_message_hint.
func parseLaunchID(hint string) (string, bool) {
	var h struct {
		LaunchID *string `json:"launchid"`
	}
	if json.Unmarshal([]byte(hint), &h) != nil || h.LaunchID == nil {
		return "", false
	}
	return *h.LaunchID, true
}

// redirectAllowed reports whether uri is exactly one of the registered
// redirect URIs. Moodle trims the lines an administrator typed, and nothing
// else.
func redirectAllowed(registered []string, uri string) bool {
	for _, r := range registered {
		if strings.TrimSpace(r) == uri {
			return true
		}
	}
	return false
}
