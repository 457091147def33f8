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

// DeepLinkingInitiation returns the login initiation of a deep linking
// request: what Moodle posts when a teacher adding an activity picks the
// tool in the content selector. The message hint carries a launchid and no
// course module; target_link_uri is the tool's content selection URL.
func (p *Platform) DeepLinkingInitiation(u User, c Course,
	client string) (action string, form url.Values, err error) {
	action, f, err := p.deepLinkingInitiation(u, c, client)
	if err != nil {
		return "", nil, err
	}
	return action, f.Values(), nil
}

// loginInitiation is LoginInitiation with the fields in Moodle's order.
func (p *Platform) loginInitiation(u User, c Course, l Link, client string) (string, Form, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, err := p.launchableToolLocked(client)
	if err != nil {
		return "", nil, fmt.Errorf("initiate login: %w", err)
	}
	p.enrolLocked(c, u, nil)
	st := p.linkLocked(c, l, t)
	l = st.link // with its own copy of the custom parameters
	launchID := "ltilaunch" + l.ID + "_" + strconv.FormatInt(randomLaunchID(), 10)
	hint, err := marshalJSON(jsonObject{{"cmid", st.cmid}, {"launchid", launchID}})
	if err != nil {
		return "", nil, fmt.Errorf("initiate login: encode message hint: %w", err)
	}
	p.addPendingLocked(launchID, string(hint), launch{
		user: u, course: c, link: l, tool: t, state: st, launchID: randomLaunchID(),
	})
	return t.LoginURL, p.loginFormLocked(t, c, u, t.TargetLinkURI, string(hint)), nil
}

// deepLinkingInitiation is DeepLinkingInitiation with the fields in
// Moodle's order.
func (p *Platform) deepLinkingInitiation(u User, c Course, client string) (string, Form, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, err := p.launchableToolLocked(client)
	if err != nil {
		return "", nil, fmt.Errorf("initiate deep linking: %w", err)
	}
	p.enrolLocked(c, u, nil)
	launchID := "ltilaunch_ContentItemSelectionRequest" + strconv.FormatInt(randomLaunchID(), 10)
	hint, err := marshalJSON(jsonObject{{"launchid", launchID}})
	if err != nil {
		return "", nil, fmt.Errorf("initiate deep linking: encode message hint: %w", err)
	}
	p.addPendingLocked(launchID, string(hint), launch{
		user: u, course: c, tool: t, deepLinking: true, launchID: randomLaunchID(),
	})
	target := t.DeepLinkingURL
	if target == "" {
		target = t.TargetLinkURI
	}
	return t.LoginURL, p.loginFormLocked(t, c, u, target, string(hint)), nil
}

// launchableToolLocked returns the tool with client id client when it can
// launch: registered, active and with a login URL.
func (p *Platform) launchableToolLocked(client string) (*Tool, error) {
	t := p.toolLocked(client)
	switch {
	case t == nil || t.ClientID != client:
		return nil, fmt.Errorf("no tool with client id %q", client)
	case t.Pending:
		return nil, fmt.Errorf("tool %q is pending: an administrator must activate it first", client)
	case t.LoginURL == "":
		return nil, fmt.Errorf("tool %q has no login URL", client)
	case p.issuer == nil:
		return nil, fmt.Errorf("platform has no issuer")
	}
	return t, nil
}

func (p *Platform) addPendingLocked(launchID, hint string, l launch) {
	now := p.now()
	for id, pl := range p.launches {
		if now.Sub(pl.created) > pendingLaunchLife {
			delete(p.launches, id)
		}
	}
	p.launches[launchID] = &pendingLaunch{launch: l, hint: hint, created: now}
}

// loginFormLocked is the login initiation form: Moodle's fields, the
// deployment under the name this platform uses, and the extras of other
// LMSs.
func (p *Platform) loginFormLocked(t *Tool, c Course, u User, target, hint string) Form {
	f := Form{
		{"iss", p.tokenIssuerLocked()},
		{"target_link_uri", target},
		{"login_hint", u.ID},
		{"lti_message_hint", hint},
		{"client_id", t.ClientID},
		{p.loginDeploymentParam, deploymentOf(t, c)},
	}
	if p.storageTarget != "" {
		f = append(f, Field{"lti_storage_target", p.storageTarget})
	}
	return append(f, p.loginExtra...)
}

// deploymentOf is the deployment id of launches of t in c.
func deploymentOf(t *Tool, c Course) string {
	if c.Deployment != "" {
		return c.Deployment
	}
	return t.DeploymentID
}
