package lms

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrLaunchIncomplete is returned, together with the response it stopped
// at, when a launch did not get as far as delivering the launch message to
// the tool: the tool or the platform answered with something that is
// neither a redirect nor an auto-submitting form of the protocol.
var ErrLaunchIncomplete = errors.New("launch stopped before reaching the tool's launch endpoint")

// maxLaunchHops bounds the redirects and forms a launch may pass through.
const maxLaunchHops = 10

// Browser drives launches the way a browser with a logged-in LMS session
// would.
type Browser struct {
	// Client makes the requests. It must have a cookie jar, which holds the
	// platform session and whatever cookies the tool sets.
	Client *http.Client
	// Platform is the LMS the user is logged into.
	Platform *Platform
}

// LaunchLTI13 performs an LTI 1.3 launch of l in c by u through the tool
// with client id client. It logs u into the platform (the session cookie
// goes into the jar), posts the login initiation to the tool, follows the
// tool's redirect (or form) to the auth endpoint, and posts the id_token and
// state from the auth response to the tool. It returns the tool's response
// to that last post without following its redirects, so tests can assert
// them. An error from the auth endpoint is posted to the tool the same way.
//
// When the dance stops earlier, LaunchLTI13 returns the response it stopped
// at together with an error wrapping ErrLaunchIncomplete; the caller must
// close that response's body.
func (b *Browser) LaunchLTI13(ctx context.Context, u User, c Course, l Link,
	client string) (*http.Response, error) {
	if err := b.login(u); err != nil {
		return nil, fmt.Errorf("launch lti 1.3: %w", err)
	}
	action, form, err := b.Platform.loginInitiation(u, c, l, client)
	if err != nil {
		return nil, fmt.Errorf("launch lti 1.3: %w", err)
	}
	return b.dance(ctx, action, form)
}

// DeepLink performs the deep linking request a teacher u starts in c when
// adding an activity with the tool with client id client, and returns the
// tool's response to the posted id_token (its content picker) without
// following redirects. Errors are as for LaunchLTI13.
func (b *Browser) DeepLink(ctx context.Context, u User, c Course, client string) (*http.Response, error) {
	if err := b.login(u); err != nil {
		return nil, fmt.Errorf("deep link: %w", err)
	}
	action, form, err := b.Platform.deepLinkingInitiation(u, c, client)
	if err != nil {
		return nil, fmt.Errorf("deep link: %w", err)
	}
	return b.dance(ctx, action, form)
}

// dance posts a login initiation and follows the OIDC login to the tool's
// launch endpoint.
func (b *Browser) dance(ctx context.Context, action string, form Form) (*http.Response, error) {
	resp, err := b.post(ctx, action, form)
	if err != nil {
		return nil, fmt.Errorf("launch lti 1.3: post login initiation: %w", err)
	}
	lastForm := form // what a 307 or 308 redirect has to post again
	authURL := b.Platform.Issuer() + authPath
	for range maxLaunchHops {
		if loc := resp.Header.Get("Location"); isRedirect(resp.StatusCode) && loc != "" {
			next, err := resp.Request.URL.Parse(loc)
			drain(resp)
			if err != nil {
				return nil, fmt.Errorf("launch lti 1.3: bad redirect %q: %w", loc, err)
			}
			if resp.Request.Method == http.MethodPost && (resp.StatusCode == http.StatusTemporaryRedirect ||
				resp.StatusCode == http.StatusPermanentRedirect) {
				resp, err = b.post(ctx, next.String(), lastForm)
			} else {
				resp, err = b.get(ctx, next.String())
			}
			if err != nil {
				return nil, fmt.Errorf("launch lti 1.3: follow redirect: %w", err)
			}
			continue
		}
		pf, ok := readForm(resp)
		if resp.StatusCode != http.StatusOK || !ok {
			return resp, fmt.Errorf("launch lti 1.3: %d from %s: %w",
				resp.StatusCode, resp.Request.URL.Redacted(), ErrLaunchIncomplete)
		}
		next, err := resp.Request.URL.Parse(pf.action)
		if err != nil {
			return resp, fmt.Errorf("launch lti 1.3: bad form action %q: %w", pf.action, ErrLaunchIncomplete)
		}
		fromAuth := strings.HasPrefix(resp.Request.URL.String(), authURL)
		toAuth := strings.HasPrefix(next.String(), authURL)
		switch {
		case fromAuth && pf.id == "ltiAuthForm":
			// The platform's answer: deliver it to the tool and stop.
			drain(resp)
			final, err := b.post(ctx, next.String(), pf.fields)
			if err != nil {
				return nil, fmt.Errorf("launch lti 1.3: post id_token: %w", err)
			}
			return final, nil
		case toAuth:
			// A tool that sends the authentication request as a form post,
			// or the platform's own cross-site repost page.
			drain(resp)
			lastForm = pf.fields
			if resp, err = b.post(ctx, next.String(), pf.fields); err != nil {
				return nil, fmt.Errorf("launch lti 1.3: post to auth endpoint: %w", err)
			}
		default:
			return resp, fmt.Errorf("launch lti 1.3: form from %s does not lead to the platform: %w",
				resp.Request.URL.Redacted(), ErrLaunchIncomplete)
		}
	}
	drain(resp)
	return nil, fmt.Errorf("launch lti 1.3: more than %d redirects and forms", maxLaunchHops)
}

// LaunchLTI11 performs an LTI 1.1 launch of l in c by u through the tool
// with client id or consumer key toolClientOrKey: it logs u into the
// platform, signs the launch and posts it to the tool's launch URL. It
// returns the tool's response without following redirects.
func (b *Browser) LaunchLTI11(ctx context.Context, u User, c Course, l Link,
	toolClientOrKey string) (*http.Response, error) {
	if err := b.login(u); err != nil {
		return nil, fmt.Errorf("launch lti 1.1: %w", err)
	}
	action, form, err := b.Platform.SignLTI11(u, c, l, toolClientOrKey)
	if err != nil {
		return nil, fmt.Errorf("launch lti 1.1: %w", err)
	}
	resp, err := b.post(ctx, action, form)
	if err != nil {
		return nil, fmt.Errorf("launch lti 1.1: %w", err)
	}
	return resp, nil
}

// login puts a fresh platform session for u into the cookie jar.
func (b *Browser) login(u User) error {
	if b.Client == nil || b.Client.Jar == nil {
		return errors.New("browser client has no cookie jar")
	}
	iss, err := url.Parse(b.Platform.Issuer())
	if err != nil || iss.Host == "" {
		return fmt.Errorf("platform issuer %q is not a URL", b.Platform.Issuer())
	}
	b.Client.Jar.SetCookies(iss, []*http.Cookie{b.Platform.Login(u)})
	return nil
}

// client returns b.Client with redirects left to the caller.
func (b *Browser) client() *http.Client {
	c := *b.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func (b *Browser) post(ctx context.Context, u string, f Form) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(f.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.client().Do(req)
}

func (b *Browser) get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return b.client().Do(req)
}

// readForm reads the first form of an HTML response and puts the body back
// so the caller can still return the response.
func readForm(resp *http.Response) (pageForm, bool) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPageSize))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil || !strings.HasPrefix(mediaType(resp.Header.Get("Content-Type")), "text/html") {
		return pageForm{}, false
	}
	pf, err := parseFirstForm(string(body))
	return pf, err == nil
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// drain discards and closes a body so its connection can be reused.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxPageSize))
	resp.Body.Close()
}
