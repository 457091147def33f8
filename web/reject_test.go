package web_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/registry"
)

var (
	learner = lms.User{ID: "4", Username: "student1", GivenName: "Sam", FamilyName: "Student", Roles: []string{lms.RoleLearner}}
	crs     = lms.Course{ID: "2", Label: "LTI101", Title: "Course"}
	link    = lms.Link{ID: "1", Title: "Lab", LineItem: true}
)

// postWith sends a form with extra request headers and returns status and
// body.
func postWith(t *testing.T, c *http.Client, u string, form url.Values, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// post sends a form and returns status and body.
func post(t *testing.T, c *http.Client, u string, form url.Values) (int, string, *http.Response) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}

// expectRejected checks a rejection: a 4xx page a person can act on, with
// the error code, and nothing written or started.
func (h *harness) expectRejected(t *testing.T, status int, body string, before map[string]int64, starts int, code string) {
	t.Helper()
	require.GreaterOrEqual(t, status, 400, body)
	require.Less(t, status, 500, body)
	require.Contains(t, body, "This launch could not be accepted")
	require.Regexp(t, `<p class="action">[A-Z][^<]{20,}</p>`, body, "the student is told what to do")
	require.Contains(t, body, "For the LMS or Labhub administrator:", "the administrator is told what to check")
	require.Contains(t, body, "<code>"+code+"</code>")
	require.Equal(t, before, h.counts(), "a rejected launch writes nothing")
	require.Equal(t, starts, h.docker.Calls(), "a rejected launch starts nothing")
}

func (h *harness) signed11(mutate func(f *lms.Form)) (string, url.Values) {
	action, form, err := h.platform.SignLTI11(learner, crs, link, h.key)
	require.NoError(h.t, err)
	if mutate != nil {
		mutate(&form)
	}
	return action, form.Values()
}

func resign(t *testing.T, action, secret string, f *lms.Form) {
	f.Del("oauth_signature")
	sig, err := lms.OAuthSignature("POST", action, *f, secret)
	require.NoError(t, err)
	f.Set("oauth_signature", sig)
}

func TestLTI11Rejections(t *testing.T) {
	h := newHarness(t)
	action := h.hub.URL + "/hub/lti/launch"
	cases := []struct {
		name   string
		mutate func(f *lms.Form)
		code   string
	}{
		{"bad signature", func(f *lms.Form) { f.Set("roles", "Instructor") }, "bad_signature"},
		{"missing signature", func(f *lms.Form) { f.Del("oauth_signature") }, "missing_parameter"},
		{"garbage timestamp", func(f *lms.Form) {
			f.Set("oauth_timestamp", "17963O1073")
			resign(t, action, h.secret, f)
		}, "bad_timestamp"},
		{"old timestamp", func(f *lms.Form) {
			f.Set("oauth_timestamp", strconv.FormatInt(time.Now().Add(-301*time.Second).Unix(), 10))
			resign(t, action, h.secret, f)
		}, "stale_timestamp"},
		{"unknown consumer key", func(f *lms.Form) {
			f.Set("oauth_consumer_key", "someone-else")
			resign(t, action, h.secret, f)
		}, "unknown_consumer"},
		{"wrong secret", func(f *lms.Form) { resign(t, action, "guessed", f) }, "bad_signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, calls := h.counts(), h.docker.Calls()
			_, form := h.signed11(tc.mutate)
			status, body, _ := post(t, h.client(), action, form)
			h.expectRejected(t, status, body, before, calls, tc.code)
		})
	}

	t.Run("content item selection", func(t *testing.T) {
		// A valid launch Labhub does not handle yet is refused before its
		// nonce is recorded.
		before, calls := h.counts(), h.docker.Calls()
		_, form := h.signed11(func(f *lms.Form) {
			f.Set("lti_message_type", "ContentItemSelectionRequest")
			f.Set("content_item_return_url", h.lmsURL+"/mod/lti/contentitem_return.php")
			resign(t, action, h.secret, f)
		})
		status, body, _ := post(t, h.client(), action, form)
		require.Equal(t, http.StatusNotImplemented, status, body)
		require.Contains(t, body, "deep_linking_unsupported")
		require.Equal(t, before, h.counts(), "a refused launch writes nothing")
		require.Equal(t, calls, h.docker.Calls())
	})

	t.Run("replayed nonce", func(t *testing.T) {
		_, form := h.signed11(nil)
		status, body, resp := post(t, h.client(), action, form)
		require.Equal(t, http.StatusSeeOther, status, body)
		require.Equal(t, "/hub/spawn-pending/student1/lti101", resp.Header.Get("Location"))
		h.settle()
		before, calls := h.counts(), h.docker.Calls()
		status, body, _ = post(t, h.client(), action, form)
		h.expectRejected(t, status, body, before, calls, "replayed_nonce")
	})
}

// login13 posts a login initiation as the platform would and returns the
// state and nonce Labhub sent to the auth endpoint; c keeps the state cookie.
func (h *harness) login13(c *http.Client) (state, nonce string) {
	h.t.Helper()
	action, form, err := h.platform.LoginInitiation(learner, crs, link, h.clientID)
	require.NoError(h.t, err)
	resp, err := c.PostForm(action, form)
	require.NoError(h.t, err)
	resp.Body.Close()
	require.Equal(h.t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(h.t, err)
	require.Equal(h.t, h.lmsURL+"/mod/lti/auth.php", loc.Scheme+"://"+loc.Host+loc.Path)
	q := loc.Query()
	require.Equal(h.t, form.Get("lti_message_hint"), q.Get("lti_message_hint"), "the hint is echoed byte for byte")
	require.Equal(h.t, h.hub.URL+"/lti/launch", q.Get("redirect_uri"))
	return q.Get("state"), q.Get("nonce")
}

func (h *harness) claims(nonce string) map[string]any {
	c, err := h.platform.LaunchClaims(learner, crs, link, h.clientID, nonce)
	require.NoError(h.t, err)
	return c
}

func (h *harness) sign(c map[string]any) string {
	tok, err := h.platform.IDToken(c)
	require.NoError(h.t, err)
	return tok
}

// unsigned builds a token with any header, signed with HMAC-SHA256 under key
// (or not at all when key is nil).
func unsigned(t *testing.T, header, claims map[string]any, key []byte) string {
	hb, err := json.Marshal(header)
	require.NoError(t, err)
	cb, err := json.Marshal(claims)
	require.NoError(t, err)
	in := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	if key == nil {
		return in + "."
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

const claimDeployment = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"

func TestLTI13Rejections(t *testing.T) {
	h := newHarness(t)
	launch := h.hub.URL + "/lti/launch"
	cases := []struct {
		name  string
		token func(nonce string) string
		code  string
	}{
		{"alg none", func(n string) string {
			return unsigned(t, map[string]any{"alg": "none", "typ": "JWT"}, h.claims(n), nil)
		}, "bad_algorithm"},
		{"HS256 signed with the public key", func(n string) string {
			return unsigned(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": h.platform.KeyID()}, h.claims(n), h.platform.JWKS())
		}, "bad_algorithm"},
		{"unknown kid", func(n string) string {
			tok := h.sign(h.claims(n))
			parts := strings.SplitN(tok, ".", 2)
			hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT","kid":"made-up"}`))
			return hdr + "." + parts[1]
		}, "unknown_key"},
		{"expired", func(n string) string {
			c := h.claims(n)
			c["iat"], c["exp"] = time.Now().Add(-10*time.Minute).Unix(), time.Now().Add(-2*time.Minute).Unix()
			return h.sign(c)
		}, "expired"},
		{"iat in the future beyond leeway", func(n string) string {
			c := h.claims(n)
			c["iat"], c["exp"] = time.Now().Add(3*time.Minute).Unix(), time.Now().Add(4*time.Minute).Unix()
			return h.sign(c)
		}, "issued_in_future"},
		{"wrong aud", func(n string) string {
			c := h.claims(n)
			c["aud"] = "someone-else"
			return h.sign(c)
		}, "unknown_platform"},
		{"aud list without azp", func(n string) string {
			c := h.claims(n)
			c["aud"] = []string{h.clientID, "other"}
			return h.sign(c)
		}, "missing_azp"},
		{"unknown deployment id", func(n string) string {
			c := h.claims(n)
			c[claimDeployment] = "99"
			return h.sign(c)
		}, "unknown_deployment"},
		{"empty deployment id", func(n string) string {
			c := h.claims(n)
			c[claimDeployment] = ""
			return h.sign(c)
		}, "missing_deployment"},
		{"nonce of another login", func(string) string {
			return h.sign(h.claims("not-the-nonce"))
		}, "bad_nonce"},
		{"changed byte", func(n string) string {
			tok := []byte(h.sign(h.claims(n)))
			i := len(tok) - 10 // inside the signature
			if tok[i] == 'A' {
				tok[i] = 'B'
			} else {
				tok[i] = 'A'
			}
			return string(tok)
		}, "bad_signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := h.client()
			state, nonce := h.login13(c)
			before, calls := h.counts(), h.docker.Calls()
			status, body, _ := post(t, c, launch, url.Values{"id_token": {tc.token(nonce)}, "state": {state}})
			h.expectRejected(t, status, body, before, calls, tc.code)
		})
	}

	t.Run("replayed nonce", func(t *testing.T) {
		c := h.client()
		state, nonce := h.login13(c)
		form := url.Values{"id_token": {h.sign(h.claims(nonce))}, "state": {state}}
		// Someone who captured the post and the state cookie replays both:
		// the nonce, not the cookie, stops them.
		u, _ := url.Parse(h.hub.URL + "/lti/launch")
		captured := c.Jar.Cookies(u)
		require.NotEmpty(t, captured)
		status, body, _ := post(t, c, launch, form)
		require.Equal(t, http.StatusSeeOther, status, body)
		h.settle()
		c.Jar.SetCookies(u, captured)
		before, calls := h.counts(), h.docker.Calls()
		status, body, _ = post(t, c, launch, form)
		h.expectRejected(t, status, body, before, calls, "replayed_nonce")
	})

	t.Run("token of another registration", func(t *testing.T) {
		// A valid token with the login's nonce, from another registration
		// of the same issuer, does not belong to the login's state: refused
		// without recording its nonce.
		other := "other-" + h.clientID
		_, err := h.registry.PutPlatform(context.Background(), registry.PlatformInput{
			Issuer: h.platform.TokenIssuer(), ClientID: other, AuthURL: h.lmsURL + "/mod/lti/auth.php",
			TokenURL: h.lmsURL + "/mod/lti/token.php", JWKSURL: h.lmsURL + "/mod/lti/certs.php",
			Deployments: []string{"1"}, Origins: []string{h.lmsURL}})
		require.NoError(t, err)
		c := h.client()
		state, nonce := h.login13(c)
		claims := h.claims(nonce)
		claims["aud"] = other
		before, calls := h.counts(), h.docker.Calls()
		status, body, _ := post(t, c, launch, url.Values{"id_token": {h.sign(claims)}, "state": {state}})
		h.expectRejected(t, status, body, before, calls, "bad_state")
	})

	t.Run("state missing", func(t *testing.T) {
		c := h.client()
		_, nonce := h.login13(c)
		before, calls := h.counts(), h.docker.Calls()
		status, body, _ := post(t, c, launch, url.Values{"id_token": {h.sign(h.claims(nonce))}})
		h.expectRejected(t, status, body, before, calls, "missing_state")
	})

	t.Run("state from another login", func(t *testing.T) {
		// An attacker makes the victim's browser post the attacker's launch
		// (login CSRF). The victim's browser keeps Labhub's cookies here —
		// it holds the state cookie of a login of its own — but none for
		// this login: refused, not offered in a new tab.
		victim, attacker := h.client(), h.client()
		state, nonce := h.login13(attacker)
		h.login13(victim)
		before, calls := h.counts(), h.docker.Calls()
		form := url.Values{"id_token": {h.sign(h.claims(nonce))}, "state": {state}}
		status, body, _ := post(t, victim, launch, form)
		h.expectRejected(t, status, body, before, calls, "state_mismatch")
		require.Equal(t, http.StatusForbidden, status)
		// Nor can a page of Labhub's continue it in this browser.
		status, body = postWith(t, victim, h.hub.URL+"/lti/launch/continue", form, sameOrigin)
		h.expectRejected(t, status, body, before, calls, "state_mismatch")
	})

	t.Run("launch of another person into a logged-in browser", func(t *testing.T) {
		// The victim holds only a Labhub session: cookies work here, so a
		// launch without its state cookie did not begin in this browser.
		victim, attacker := h.client(), h.client()
		_, own := h.signed11(nil)
		status, body, _ := post(t, victim, h.hub.URL+"/hub/lti/launch", own)
		require.Equal(t, http.StatusSeeOther, status, body)
		h.settle()
		state, nonce := h.login13(attacker)
		before, calls := h.counts(), h.docker.Calls()
		form := url.Values{"id_token": {h.sign(h.claims(nonce))}, "state": {state}}
		status, body, _ = post(t, victim, launch, form)
		h.expectRejected(t, status, body, before, calls, "state_mismatch")
	})

	t.Run("state from a browser without cookies", func(t *testing.T) {
		// A browser that sends no Labhub cookie at all may be one that
		// refuses them inside the LMS page: Labhub offers to go on in a new
		// tab, which only a click on Labhub's own page can do.
		victim, attacker := h.client(), h.client()
		state, nonce := h.login13(attacker)
		before, calls := h.counts(), h.docker.Calls()
		form := url.Values{"id_token": {h.sign(h.claims(nonce))}, "state": {state}}
		status, body, _ := post(t, victim, launch, form)
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, body, `action="/lti/launch/continue" target="_blank"`)
		require.Equal(t, before, h.counts(), "nothing is verified or written yet")
		// The attacker's page cannot post the continuation itself.
		for _, header := range []map[string]string{{}, {"Sec-Fetch-Site": "cross-site"},
			{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "same-site", "Origin": h.hub.URL}} {
			status, body = postWith(t, victim, h.hub.URL+"/lti/launch/continue", form, header)
			h.expectRejected(t, status, body, before, calls, "state_mismatch")
		}
	})

	t.Run("forged state", func(t *testing.T) {
		c := h.client()
		state, nonce := h.login13(c)
		before, calls := h.counts(), h.docker.Calls()
		status, body, _ := post(t, c, launch, url.Values{"id_token": {h.sign(h.claims(nonce))}, "state": {state + "x"}})
		h.expectRejected(t, status, body, before, calls, "bad_state")
	})

	t.Run("platform error", func(t *testing.T) {
		c := h.client()
		state, _ := h.login13(c)
		before, calls := h.counts(), h.docker.Calls()
		status, body, _ := post(t, c, launch, url.Values{"error": {"login_required"},
			"error_description": {"User not logged in"}, "state": {state}})
		h.expectRejected(t, status, body, before, calls, "platform_error")
		require.Contains(t, body, "login_required")
	})
}
