package lti_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

func moodlePlatform() lti.Platform {
	return lti.Platform{
		ID: "moodle", Issuer: moodleIssuer, ClientID: moodleClientID,
		AuthURL:  moodleIssuer + "/mod/lti/auth.php",
		TokenURL: moodleIssuer + "/mod/lti/token.php", JWKSURL: moodleIssuer + "/mod/lti/certs.php",
		Deployments: []string{"1"},
	}
}

func TestParseLoginRequestMoodle(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"lti13-student-login-initiation.json", "lti13-teacher-login-initiation.json",
		"lti13-deep-linking-login-initiation.json"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := loadForm(t, name)
			p := f.values()
			lr, err := lti.ParseLoginRequest(p)
			require.NoError(t, err)
			require.Equal(t, lti.LoginRequest{
				Issuer: p.Get("iss"), LoginHint: p.Get("login_hint"), TargetLinkURI: p.Get("target_link_uri"),
				MessageHint: p.Get("lti_message_hint"), ClientID: p.Get("client_id"),
				DeploymentID: p.Get("lti_deployment_id"),
			}, lr)
			require.Equal(t, moodleIssuer, lr.Issuer)
			require.Equal(t, "1", lr.DeploymentID)
		})
	}
}

func TestParseLoginRequest(t *testing.T) {
	t.Parallel()
	base := func() url.Values {
		return url.Values{"iss": {"https://canvas.instructure.com"}, "login_hint": {"abc"},
			"target_link_uri": {"https://hub.example.test/lti/launch"}}
	}
	tests := []struct {
		name  string
		edit  func(url.Values)
		code  string // "" means success
		check func(t *testing.T, lr lti.LoginRequest)
	}{
		{name: "minimal", edit: func(url.Values) {}},
		{name: "canvas deployment_id and storage target", edit: func(v url.Values) {
			v.Set("deployment_id", "6:abc")
			v.Set("lti_storage_target", "post_message_forwarding")
			v.Set("canvas_region", "us-east-1")
		}, check: func(t *testing.T, lr lti.LoginRequest) {
			require.Equal(t, "6:abc", lr.DeploymentID)
			require.Equal(t, "post_message_forwarding", lr.StorageTarget)
		}},
		{name: "lti_deployment_id wins over deployment_id", edit: func(v url.Values) {
			v.Set("deployment_id", "a")
			v.Set("lti_deployment_id", "b")
		}, check: func(t *testing.T, lr lti.LoginRequest) { require.Equal(t, "b", lr.DeploymentID) }},
		{name: "missing iss", edit: func(v url.Values) { v.Del("iss") }, code: lti.CodeMissingParameter},
		{name: "empty login hint", edit: func(v url.Values) { v.Set("login_hint", "") },
			code: lti.CodeMissingParameter},
		{name: "missing target", edit: func(v url.Values) { v.Del("target_link_uri") },
			code: lti.CodeMissingParameter},
		{name: "repeated iss", edit: func(v url.Values) { v.Add("iss", "https://evil.test") },
			code: lti.CodeBadParameter},
		{name: "repeated message hint",
			edit: func(v url.Values) { v["lti_message_hint"] = []string{"a", "b"} },
			code: lti.CodeBadParameter},
		{name: "javascript target",
			edit: func(v url.Values) { v.Set("target_link_uri", "javascript:alert(1)") },
			code: lti.CodeBadParameter},
		{name: "relative target", edit: func(v url.Values) { v.Set("target_link_uri", "/lti/launch") },
			code: lti.CodeBadParameter},
		{name: "protocol-relative target",
			edit: func(v url.Values) { v.Set("target_link_uri", "//evil.test/x") },
			code: lti.CodeBadParameter},
		{name: "target without host",
			edit: func(v url.Values) { v.Set("target_link_uri", "https:///x") }, code: lti.CodeBadParameter},
		{name: "overlong target", edit: func(v url.Values) {
			v.Set("target_link_uri", "https://hub.example.test/"+strings.Repeat("a", 3000))
		}, code: lti.CodeBadParameter},
		{name: "overlong hint",
			edit: func(v url.Values) { v.Set("lti_message_hint", strings.Repeat("a", 5000)) },
			code: lti.CodeBadParameter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := base()
			tt.edit(v)
			lr, err := lti.ParseLoginRequest(v)
			if tt.code != "" {
				e := requireCode(t, err, tt.code)
				require.Equal(t, 400, e.Status)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "abc", lr.LoginHint)
			if tt.check != nil {
				tt.check(t, lr)
			}
		})
	}
}

func TestAuthRequestURLMoodle(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"lti13-student-login-initiation.json", "lti13-deep-linking-login-initiation.json",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			lr, err := lti.ParseLoginRequest(loadForm(t, name).values())
			require.NoError(t, err)
			const redirect = "http://127.0.0.1:9000/lti/launch"
			got, err := lti.AuthRequestURL(moodlePlatform(), lr, redirect, "st.ate", "no-nce")
			require.NoError(t, err)

			u, err := url.Parse(got)
			require.NoError(t, err)
			require.Equal(t, "http://127.0.0.1:8081/mod/lti/auth.php", u.Scheme+"://"+u.Host+u.Path)
			q, err := url.ParseQuery(u.RawQuery)
			require.NoError(t, err)
			for k, want := range map[string]string{
				"scope": "openid", "response_type": "id_token", "response_mode": "form_post", "prompt": "none",
				"client_id": moodleClientID, "redirect_uri": redirect, "login_hint": lr.LoginHint,
				"state": "st.ate", "nonce": "no-nce", "lti_message_hint": lr.MessageHint,
			} {
				require.Equal(t, []string{want}, q[k], k)
			}
			require.Len(t, q, 10)
			require.NotEqual(t, lr.TargetLinkURI, q.Get("redirect_uri"))
			// The JSON hint is encoded exactly once.
			require.True(t, strings.HasPrefix(lr.MessageHint, "{"))
			require.Contains(t, u.RawQuery, "lti_message_hint="+url.QueryEscape(lr.MessageHint))
			require.NotContains(t, u.RawQuery, "%257B")
		})
	}
}

func TestAuthRequestURL(t *testing.T) {
	t.Parallel()
	lr := lti.LoginRequest{Issuer: moodleIssuer, LoginHint: "4",
		TargetLinkURI: "http://127.0.0.1:9000/x"}
	const redirect = "https://hub.example.test/lti/launch"
	tests := []struct {
		name     string
		edit     func(p *lti.Platform, lr *lti.LoginRequest)
		redirect string
		state    string
		wantErr  bool
		check    func(t *testing.T, raw string)
	}{
		{name: "no message hint, no parameter", check: func(t *testing.T, raw string) {
			require.NotContains(t, raw, "lti_message_hint")
		}},
		{name: "platform query kept verbatim", edit: func(p *lti.Platform, _ *lti.LoginRequest) {
			p.AuthURL = "https://sso.example.test/api/lti/authorize_redirect?tenant=a%20b&x=1#frag"
		}, check: func(t *testing.T, raw string) {
			require.True(t,
				strings.HasPrefix(raw, "https://sso.example.test/api/lti/authorize_redirect?tenant=a%20b&x=1&"), raw)
			require.NotContains(t, raw, "#frag")
		}},
		{name: "hint with every awkward byte", edit: func(_ *lti.Platform, lr *lti.LoginRequest) {
			lr.MessageHint = "a+b c&d=e%f#g?h\"é\x01"
		}, check: func(t *testing.T, raw string) {
			u, err := url.Parse(raw)
			require.NoError(t, err)
			require.Equal(t, "a+b c&d=e%f#g?h\"é\x01", u.Query().Get("lti_message_hint"))
		}},
		{name: "login client id matches",
			edit: func(_ *lti.Platform, lr *lti.LoginRequest) { lr.ClientID = moodleClientID }},
		{name: "login client id differs", wantErr: true,
			edit: func(_ *lti.Platform, lr *lti.LoginRequest) { lr.ClientID = "other" }},
		{name: "issuer differs", wantErr: true,
			edit: func(_ *lti.Platform, lr *lti.LoginRequest) { lr.Issuer = "https://evil.test" }},
		{name: "platform without client id", wantErr: true,
			edit: func(p *lti.Platform, _ *lti.LoginRequest) { p.ClientID = "" }},
		{name: "auth url already sets state", wantErr: true,
			edit: func(p *lti.Platform, _ *lti.LoginRequest) { p.AuthURL += "?state=x" }},
		{name: "auth url not http", wantErr: true,
			edit: func(p *lti.Platform, _ *lti.LoginRequest) { p.AuthURL = "javascript:alert(1)" }},
		{name: "auth url relative", wantErr: true,
			edit: func(p *lti.Platform, _ *lti.LoginRequest) { p.AuthURL = "/mod/lti/auth.php" }},
		{name: "relative redirect uri", redirect: "/lti/launch", wantErr: true},
		{name: "empty state", state: "-", wantErr: true},
		{name: "empty login hint", wantErr: true,
			edit: func(_ *lti.Platform, lr *lti.LoginRequest) { lr.LoginHint = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, l := moodlePlatform(), lr
			if tt.edit != nil {
				tt.edit(&p, &l)
			}
			r, state := redirect, "s"
			if tt.redirect != "" {
				r = tt.redirect
			}
			if tt.state == "-" {
				state = ""
			}
			got, err := lti.AuthRequestURL(p, l, r, state, "n")
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}
