package lms

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// pendingLaunch is a launch between login initiation and the auth endpoint,
// kept in memory under its launchid as Moodle keeps it in the session.
type pendingLaunch struct {
	launch  launch
	hint    string // the lti_message_hint exactly as sent
	created time.Time
}

// pendingLaunchLife bounds how long an unfinished launch is kept.
const pendingLaunchLife = time.Hour

// LoginInitiation returns the form Moodle auto-submits to the tool's login
// URL to start an LTI 1.3 launch of l in c by u: iss, target_link_uri,
// login_hint, lti_message_hint, client_id and lti_deployment_id. It enrols u
// in c and records the launch, keyed by the launchid inside
// lti_message_hint, for the auth endpoint.
func (p *Platform) LoginInitiation(u User, c Course, l Link,
	client string) (action string, form url.Values, err error) {
	action, f, err := p.loginInitiation(u, c, l, client)
	if err != nil {
		return "", nil, err
	}
	return action, f.Values(), nil
}

// loginInitiation is LoginInitiation with the fields in Moodle's order.
func (p *Platform) loginInitiation(u User, c Course, l Link, client string) (string, Form, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.toolLocked(client)
	if t == nil || t.ClientID != client {
		return "", nil, fmt.Errorf("initiate login: no tool with client id %q", client)
	}
	if t.LoginURL == "" {
		return "", nil, fmt.Errorf("initiate login: tool %q has no login URL", client)
	}
	if p.issuer == nil {
		return "", nil, fmt.Errorf("initiate login: platform has no issuer")
	}
	p.enrolLocked(c, u, nil)
	st := p.linkLocked(c, l, t)
	l = st.link // with its own copy of the custom parameters
	launchID := "ltilaunch" + l.ID + "_" + strconv.FormatInt(randomLaunchID(), 10)
	hint, err := marshalJSON(jsonObject{{"cmid", st.cmid}, {"launchid", launchID}})
	if err != nil {
		return "", nil, fmt.Errorf("initiate login: encode message hint: %w", err)
	}
	now := p.now()
	for id, pl := range p.launches {
		if now.Sub(pl.created) > pendingLaunchLife {
			delete(p.launches, id)
		}
	}
	p.launches[launchID] = &pendingLaunch{
		launch: launch{
			user: u, course: c, link: l, tool: t, state: st,
			launchID: randomLaunchID(),
		},
		hint:    string(hint),
		created: now,
	}
	// TODO: deep linking: Moodle's LtiDeepLinkingRequest variant (launchid
	// "ltilaunch_ContentItemSelectionRequest..." without cmid, and the
	// deep_link_return_url endpoint) is not implemented yet.
	return t.LoginURL, Form{
		{"iss", p.issuerLocked()},
		{"target_link_uri", t.TargetLinkURI},
		{"login_hint", u.ID},
		{"lti_message_hint", string(hint)},
		{"client_id", t.ClientID},
		{"lti_deployment_id", t.DeploymentID},
	}, nil
}
