package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/store"
)

// BenchmarkLTI13LaunchRunningServer measures what Labhub does for an LTI 1.3
// launch of a student whose server already runs: the login initiation and
// the launch post (id_token signature check against the cached platform
// keys, nonce, records, session, server lookup, redirect to the server).
// Signing the id_token is the platform's work and is left out of the timing.
func BenchmarkLTI13LaunchRunningServer(b *testing.B) {
	h := newHarness(b)
	launch := func() int {
		c := h.client()
		state, nonce := h.login13(c)
		form := url.Values{"id_token": {h.sign(h.claims(nonce))}, "state": {state}}
		req := httptest.NewRequest(http.MethodPost, "/lti/launch", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		u, _ := url.Parse(h.hub.URL + "/lti/launch")
		for _, ck := range c.Jar.Cookies(u) {
			req.AddCookie(ck)
		}
		rec := httptest.NewRecorder()
		h.handler.ServeHTTP(rec, req)
		return rec.Code
	}
	require.Equal(b, http.StatusSeeOther, launch())
	h.settle()
	require.NoError(b, h.db.Model(&store.Server{}).Where("1 = 1").
		Updates(map[string]any{"state": store.StateRunning, "role": store.RoleLearner}).Error)

	type prepared struct {
		form    url.Values
		cookies []*http.Cookie
	}
	// The session cookie of the first launch is not sent again: every
	// launch comes from the LMS without one, as when the browser has none.
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		c := h.client() // one login's cookies only, as in a browser
		state, nonce := h.login13(c)
		p := prepared{form: url.Values{"id_token": {h.sign(h.claims(nonce))}, "state": {state}}}
		u, _ := url.Parse(h.hub.URL + "/lti/launch")
		p.cookies = c.Jar.Cookies(u)
		req := httptest.NewRequest(http.MethodPost, "/lti/launch", strings.NewReader(p.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, ck := range p.cookies {
			req.AddCookie(ck)
		}
		rec := httptest.NewRecorder()
		b.StartTimer()
		h.handler.ServeHTTP(rec, req)
		b.StopTimer()
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/user/student1/lti101/" {
			b.Fatalf("launch %d: %d %s", i, rec.Code, rec.Header().Get("Location"))
		}
		b.StartTimer()
	}
}
