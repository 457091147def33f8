package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/web"
)

// An LTI 1.1 signature covers the URL the LMS posted to. Behind a trusted
// front that URL comes from the front's forwarding headers; the same
// headers from any other peer are ignored.
func TestForwardedLaunchURL(t *testing.T) {
	h := newHarness(t, func(_ *harness, o *web.Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	const public = "https://public.example/hub/lti/launch"
	cases := []struct {
		name   string
		peer   string
		header map[string]string
		status int
	}{
		{"X-Forwarded from a trusted front", "10.1.2.3:40000",
			map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example"}, http.StatusSeeOther},
		{"X-Forwarded from an untrusted peer", "192.0.2.7:40000",
			map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example"}, http.StatusUnauthorized},
		{"several fronts, the first one's values", "10.1.2.3:40000",
			map[string]string{"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "public.example, inner:8080"},
			http.StatusSeeOther},
		{"Forwarded from a trusted front", "10.1.2.3:40000",
			map[string]string{"Forwarded": `for=192.0.2.60;proto=https;host="public.example", for=10.0.0.1;proto=http`},
			http.StatusSeeOther},
		{"Forwarded from an untrusted peer", "192.0.2.7:40000",
			map[string]string{"Forwarded": "proto=https;host=public.example"}, http.StatusUnauthorized},
		{"Forwarded with another host", "10.1.2.3:40000",
			map[string]string{"Forwarded": "proto=https;host=evil.example"}, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, form := h.signed11(func(f *lms.Form) { resign(t, public, h.secret, f) })
			req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/hub/lti/launch",
				strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.RemoteAddr = tc.peer
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.handler.ServeHTTP(rec, req)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			if tc.status != http.StatusSeeOther {
				require.Contains(t, rec.Body.String(), "bad_signature")
			}
		})
	}
}
