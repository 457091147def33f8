package lti_test

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

// moodle11 returns the captured Moodle launch and the time it was signed.
func moodle11(t testing.TB) (form, url.Values, time.Time) {
	t.Helper()
	f := loadForm(t, "lti11-student-launch.json")
	v := f.values()
	ts, err := strconv.ParseInt(v.Get("oauth_timestamp"), 10, 64)
	require.NoError(t, err)
	return f, v, time.Unix(ts, 0)
}

func secrets(pairs ...string) lti.SecretLookup {
	return func(_ context.Context, key string) (string, error) {
		for i := 0; i+1 < len(pairs); i += 2 {
			if pairs[i] == key {
				return pairs[i+1], nil
			}
		}
		return "", lti.ErrUnknownConsumer
	}
}

// verifier11 returns a verifier for the Moodle consumer with its clock, and
// the store's, frozen at now.
func verifier11(now time.Time, store *lti.MemoryNonceStore) *lti.LTI11Verifier {
	store.Now = func() time.Time { return now }
	return &lti.LTI11Verifier{
		Secrets: secrets(moodleKey11, moodleSecret11),
		Nonces:  store,
		Now:     func() time.Time { return now },
	}
}

func TestLTI11MoodleLaunch(t *testing.T) {
	t.Parallel()
	f, params, signedAt := moodle11(t)
	store := &lti.MemoryNonceStore{}
	v := verifier11(signedAt.Add(5*time.Second), store)

	l, err := v.Verify(context.Background(), f.Method, f.Action, params)
	require.NoError(t, err)
	require.Equal(t, "1.1", l.Version)
	require.Equal(t, lti.MessageResourceLink, l.MessageType)
	require.False(t, l.IsContentItem())
	require.Equal(t, moodleKey11, l.ConsumerKey)
	require.Equal(t, "4", l.Subject)
	require.Equal(t, "student1", l.Username)
	require.Equal(t, "Sam Student", l.Name)
	require.Equal(t, "Sam", l.GivenName)
	require.Equal(t, "Student", l.FamilyName)
	require.Equal(t, "student1@example.invalid", l.Email)
	require.Equal(t, []string{"Learner"}, l.RawRoles)
	require.Equal(t, lti.Roles{Course: lti.RoleLearner}, l.Roles)
	require.Equal(t,
		lti.Context{
			ID: "2", Label: "LTI101", Title: "LTI Acceptance Course", Types: []string{"CourseSection"},
		}, l.Context)
	require.Equal(t, lti.ResourceLink{ID: "2", Title: "Jupyter (LTI 1.1)"}, l.ResourceLink)
	require.Equal(t,
		map[string]string{"activity_custom": "lti11-demo", "course_shortname": "LTI Acceptance Course"},
		l.Custom)
	require.NotNil(t, l.Outcome)
	require.Equal(t, "http://127.0.0.1:8081/mod/lti/service.php", l.Outcome.ServiceURL)
	require.Equal(t, params.Get("lis_result_sourcedid"), l.Outcome.SourcedID)
	require.Equal(t, "window", l.Presentation.DocumentTarget)
	require.Equal(t, "en", l.Presentation.Locale)
	require.Contains(t, l.Presentation.ReturnURL, "/mod/lti/return.php?course=2")
	require.Equal(t, lti.ToolPlatform{GUID: "e6087f6f8530f6472c80e3ba85609277", Name: "ltimoodle",
		ProductFamilyCode: "moodle", Version: "2024100706"}, l.ToolPlatform)
	require.Equal(t, f.Action, l.TargetLinkURI)
	for path, want := range map[string]string{
		"ext_user_username": "student1", "user_id": "4", "lis_person_sourcedid": "",
		"lis_person_contact_email_primary": "student1@example.invalid",
		"custom_activity_custom":           "lti11-demo",
	} {
		got, ok := l.Claim(path)
		require.True(t, ok, path)
		require.Equal(t, want, got, path)
	}
	_, ok := l.Claim("ext.user_username")
	require.False(t, ok, "1.1 launches have no dotted paths")

	// The same launch again is a replay.
	_, err = v.Verify(context.Background(), f.Method, f.Action, params)
	e := requireCode(t, err, lti.CodeReplayedNonce)
	require.ErrorIs(t, err, lti.ErrReplay)
	require.Equal(t, 401, e.Status)
}

func mutate(s string, i int) string {
	b := []byte(s)
	// XOR with 1 changes a byte without changing letter case, which RFC 5849
	// normalises in the method, scheme and host.
	b[i] ^= 0x01
	return string(b)
}

// TestLTI11EveryByteMatters changes each byte of each field name and value,
// of the URL, of the method and of the secret, one at a time: every change
// must make verification fail, and no failure may record a nonce.
func TestLTI11EveryByteMatters(t *testing.T) {
	t.Parallel()
	f, _, signedAt := moodle11(t)
	store := &lti.MemoryNonceStore{}
	v := verifier11(signedAt.Add(5*time.Second), store)
	ctx := context.Background()
	tried := 0
	fail := func(what string, method, u string, params url.Values, vv *lti.LTI11Verifier) {
		t.Helper()
		tried++
		_, err := vv.Verify(ctx, method, u, params)
		require.Error(t, err, what)
	}
	for i, kv := range f.Fields {
		for j := range len(kv[1]) {
			g := f
			g.Fields = append([][2]string(nil), f.Fields...)
			g.Fields[i] = [2]string{kv[0], mutate(kv[1], j)}
			fail("value of "+kv[0]+" byte "+strconv.Itoa(j), f.Method, f.Action, g.values(), v)
		}
		for j := range len(kv[0]) {
			g := f
			g.Fields = append([][2]string(nil), f.Fields...)
			g.Fields[i] = [2]string{mutate(kv[0], j), kv[1]}
			fail("name "+kv[0]+" byte "+strconv.Itoa(j), f.Method, f.Action, g.values(), v)
		}
		// Dropping the field fails too.
		g := f
		g.Fields = append(append([][2]string(nil), f.Fields[:i]...), f.Fields[i+1:]...)
		fail("without "+kv[0], f.Method, f.Action, g.values(), v)
	}
	added := f.values()
	added.Add("extra", "")
	fail("extra field", f.Method, f.Action, added, v)
	for j := range len(f.Action) {
		fail("url byte "+strconv.Itoa(j), f.Method, mutate(f.Action, j), f.values(), v)
	}
	for j := range len(f.Method) {
		fail("method byte "+strconv.Itoa(j), mutate(f.Method, j), f.Action, f.values(), v)
	}
	for j := range len(moodleSecret11) {
		vv := *v
		vv.Secrets = secrets(moodleKey11, mutate(moodleSecret11, j))
		fail("secret byte "+strconv.Itoa(j), f.Method, f.Action, f.values(), &vv)
	}
	require.Greater(t, tried, 1000)
	require.Zero(t, store.Len(), "a failed verification recorded a nonce")

	// The untouched launch still verifies: the failures above were real.
	_, err := v.Verify(ctx, f.Method, f.Action, f.values())
	require.NoError(t, err)
}

// resign sets a fresh signature on params for url with secret.
func resign(t testing.TB, method, u string, params url.Values, secret string) url.Values {
	t.Helper()
	params.Del("oauth_signature")
	sig, err := lti.Sign(method, u, params, secret, "")
	require.NoError(t, err)
	params.Set("oauth_signature", sig)
	return params
}

func TestLTI11Rejections(t *testing.T) {
	t.Parallel()
	f, _, signedAt := moodle11(t)
	action := f.Action
	tests := []struct {
		name string
		// edit changes the launch; it returns the URL to verify with.
		edit   func(t *testing.T, p url.Values, v *lti.LTI11Verifier) string
		code   string
		status int
	}{
		{name: "missing consumer key", code: lti.CodeMissingParameter, status: 400,
			edit: func(_ *testing.T, p url.Values, _ *lti.LTI11Verifier) string {
				p.Del("oauth_consumer_key")
				return action
			}},
		{name: "missing signature", code: lti.CodeMissingParameter, status: 400,
			edit: func(_ *testing.T, p url.Values,
				_ *lti.LTI11Verifier) string {
				p.Del("oauth_signature")
				return action
			}},
		{name: "missing nonce", code: lti.CodeMissingParameter, status: 400,
			edit: func(_ *testing.T, p url.Values,
				_ *lti.LTI11Verifier) string {
				p.Set("oauth_nonce", "")
				return action
			}},
		{name: "missing timestamp", code: lti.CodeMissingParameter, status: 400,
			edit: func(_ *testing.T, p url.Values,
				_ *lti.LTI11Verifier) string {
				p.Del("oauth_timestamp")
				return action
			}},
		{name: "missing signature method", code: lti.CodeMissingParameter, status: 400,
			edit: func(_ *testing.T, p url.Values, _ *lti.LTI11Verifier) string {
				p.Del("oauth_signature_method")
				return action
			}},
		{name: "repeated nonce", code: lti.CodeBadParameter, status: 400,
			edit: func(_ *testing.T, p url.Values, _ *lti.LTI11Verifier) string {
				p.Add("oauth_nonce", "x")
				return action
			}},
		{name: "overlong nonce", code: lti.CodeBadParameter, status: 400,
			edit: func(_ *testing.T, p url.Values, _ *lti.LTI11Verifier) string {
				p.Set("oauth_nonce", string(make([]byte, 300)))
				return action
			}},
		{name: "plaintext signature method", code: lti.CodeBadSignatureMethod, status: 400,
			edit: func(_ *testing.T, p url.Values, _ *lti.LTI11Verifier) string {
				p.Set("oauth_signature_method", "PLAINTEXT")
				return action
			}},
		{name: "oauth version 2.0", code: lti.CodeBadVersion, status: 400,
			edit: func(_ *testing.T, p url.Values, _ *lti.LTI11Verifier) string {
				p.Set("oauth_version", "2.0")
				return action
			}},
		{name: "signed timestamp", code: lti.CodeBadTimestamp, status: 400,
			edit: func(_ *testing.T, p url.Values, _ *lti.LTI11Verifier) string {
				p.Set("oauth_timestamp", "+"+p.Get("oauth_timestamp"))
				return action
			}},
		{name: "fractional timestamp", code: lti.CodeBadTimestamp, status: 400,
			edit: func(_ *testing.T, p url.Values, _ *lti.LTI11Verifier) string {
				p.Set("oauth_timestamp", p.Get("oauth_timestamp")+".0")
				return action
			}},
		{name: "negative timestamp", code: lti.CodeBadTimestamp, status: 400,
			edit: func(_ *testing.T, p url.Values, _ *lti.LTI11Verifier) string {
				p.Set("oauth_timestamp", "-5")
				return action
			}},
		{name: "huge timestamp", code: lti.CodeBadTimestamp, status: 400,
			edit: func(_ *testing.T, p url.Values, _ *lti.LTI11Verifier) string {
				p.Set("oauth_timestamp", "99999999999999999999999")
				return action
			}},
		{name: "clock past the window", code: lti.CodeStaleTimestamp, status: 401,
			edit: func(_ *testing.T, _ url.Values, v *lti.LTI11Verifier) string {
				v.Now = func() time.Time { return signedAt.Add(lti.DefaultWindow + time.Second) }
				return action
			}},
		{name: "timestamp ahead of the window", code: lti.CodeStaleTimestamp, status: 401,
			edit: func(_ *testing.T, _ url.Values, v *lti.LTI11Verifier) string {
				v.Now = func() time.Time { return signedAt.Add(-lti.DefaultWindow - time.Second) }
				return action
			}},
		{name: "narrower window", code: lti.CodeStaleTimestamp, status: 401,
			edit: func(_ *testing.T, _ url.Values, v *lti.LTI11Verifier) string {
				v.Window = 2 * time.Second
				return action
			}},
		{name: "unknown consumer", code: lti.CodeUnknownConsumer, status: 401,
			edit: func(_ *testing.T, _ url.Values, v *lti.LTI11Verifier) string {
				v.Secrets = secrets("other", moodleSecret11)
				return action
			}},
		{name: "consumer lookup fails", code: lti.CodeStoreError, status: 500,
			edit: func(_ *testing.T, _ url.Values, v *lti.LTI11Verifier) string {
				v.Secrets = func(context.Context, string) (string, error) { return "", errors.New("db down") }
				return action
			}},
		{name: "wrong secret", code: lti.CodeBadSignature, status: 401,
			edit: func(_ *testing.T, _ url.Values, v *lti.LTI11Verifier) string {
				v.Secrets = secrets(moodleKey11, "moodle-lti11-secret ")
				return action
			}},
		{name: "https behind a proxy while the lms signed http", code: lti.CodeBadSignature, status: 401,
			edit: func(_ *testing.T, _ url.Values, _ *lti.LTI11Verifier) string {
				return "https://127.0.0.1:9000/lti11/launch"
			}},
		{name: "unsigned message type", code: lti.CodeUnsupported, status: 400,
			edit: func(t *testing.T, p url.Values, _ *lti.LTI11Verifier) string {
				p.Set("lti_message_type", "ToolProxyRegistrationRequest")
				resign(t, "POST", action, p, moodleSecret11)
				return action
			}},
		{name: "missing message type", code: lti.CodeMissingParameter, status: 400,
			edit: func(t *testing.T, p url.Values, _ *lti.LTI11Verifier) string {
				p.Del("lti_message_type")
				resign(t, "POST", action, p, moodleSecret11)
				return action
			}},
		{name: "lti 2.0", code: lti.CodeBadVersion, status: 400,
			edit: func(t *testing.T, p url.Values, _ *lti.LTI11Verifier) string {
				p.Set("lti_version", "LTI-2p0")
				resign(t, "POST", action, p, moodleSecret11)
				return action
			}},
		{name: "no resource link", code: lti.CodeMissingParameter, status: 400,
			edit: func(t *testing.T, p url.Values, _ *lti.LTI11Verifier) string {
				p.Del("resource_link_id")
				resign(t, "POST", action, p, moodleSecret11)
				return action
			}},
		{name: "anonymous launch", code: lti.CodeMissingParameter, status: 400,
			edit: func(t *testing.T, p url.Values, _ *lti.LTI11Verifier) string {
				p.Set("user_id", "")
				resign(t, "POST", action, p, moodleSecret11)
				return action
			}},
		{name: "content item without return url", code: lti.CodeMissingReturnURL, status: 400,
			edit: func(t *testing.T, p url.Values, _ *lti.LTI11Verifier) string {
				p.Set("lti_message_type", "ContentItemSelectionRequest")
				resign(t, "POST", action, p, moodleSecret11)
				return action
			}},
		{name: "nonce store fails", code: lti.CodeStoreError, status: 500,
			edit: func(_ *testing.T, _ url.Values, v *lti.LTI11Verifier) string {
				v.Nonces = failingStore{}
				return action
			}},
		{name: "no nonce store", code: lti.CodeMisconfigured, status: 500,
			edit: func(_ *testing.T, _ url.Values,
				v *lti.LTI11Verifier) string {
				v.Nonces = nil
				return action
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			params := f.values()
			store := &lti.MemoryNonceStore{}
			v := verifier11(signedAt.Add(5*time.Second), store)
			u := tt.edit(t, params, v)
			_, err := v.Verify(context.Background(), "POST", u, params)
			e := requireCode(t, err, tt.code)
			require.Equal(t, tt.status, e.Status)
			require.Zero(t, store.Len(), "a rejected launch recorded its nonce")
		})
	}
}

type failingStore struct{}

func (failingStore) UseNonce(context.Context, string, string, time.Time) error {
	return errors.New("db down")
}

func TestLTI11Accepts(t *testing.T) {
	t.Parallel()
	f, _, signedAt := moodle11(t)
	tests := []struct {
		name string
		// edit changes the launch; it returns method, signing URL, verifying
		// URL, consumer key and secret.
		edit  func(t *testing.T, p url.Values) (string, string, string, string, string)
		check func(t *testing.T, l *lti.Launch)
		// form is added to the parameters after signing.
		form url.Values
	}{
		{name: "window edge in the past",
			edit: func(t *testing.T, p url.Values) (string, string, string, string, string) {
				p.Set("oauth_timestamp", strconv.FormatInt(signedAt.Add(-lti.DefaultWindow).Unix(), 10))
				return "POST", f.Action, f.Action, moodleKey11, moodleSecret11
			}},
		{name: "window edge in the future",
			edit: func(t *testing.T, p url.Values) (string, string, string, string, string) {
				p.Set("oauth_timestamp", strconv.FormatInt(signedAt.Add(lti.DefaultWindow).Unix(), 10))
				return "POST", f.Action, f.Action, moodleKey11, moodleSecret11
			}},
		{name: "no oauth_callback and no oauth_version",
			edit: func(t *testing.T, p url.Values) (string, string, string, string, string) {
				p.Del("oauth_callback")
				p.Del("oauth_version")
				return "POST", f.Action, f.Action, moodleKey11, moodleSecret11
			}},
		{name: "query parameters signed in the url and present in the form",
			edit: func(t *testing.T, p url.Values) (string, string, string, string, string) {
				return "POST", f.Action + "?course=a%20b&x=1&x=2", f.Action + "?course=a%20b&x=1&x=2",
					moodleKey11, moodleSecret11
			},
			// Request.Form holds the query parameters next to the body's.
			form: url.Values{"course": {"a b"}, "x": {"2", "1"}}},
		{name: "hostile key and secret",
			edit: func(t *testing.T, p url.Values) (string, string, string, string, string) {
				p.Set("oauth_consumer_key", "clé & co=+%")
				return "POST", f.Action, f.Action, "clé & co=+%", "sé cret&=+%\x7f"
			}},
		{name: "repeated keys in any order",
			edit: func(t *testing.T, p url.Values) (string, string, string, string, string) {
				p["roles"] = []string{"Instructor", "Learner"}
				return "POST", f.Action, f.Action, moodleKey11, moodleSecret11
			},
			check: func(t *testing.T,
				l *lti.Launch) {
				require.Equal(t, lti.RoleInstructor, l.Roles.Course)
			}},
		{name: "get launch with default port spelled out",
			edit: func(t *testing.T, p url.Values) (string, string, string, string, string) {
				return "GET", "https://hub.example.test/hub/lti/launch",
					"https://HUB.example.test:443/hub/lti/launch",
					moodleKey11, moodleSecret11
			}},
		{name: "content item selection is flagged",
			edit: func(t *testing.T, p url.Values) (string, string, string, string, string) {
				p.Set("lti_message_type", "ContentItemSelectionRequest")
				p.Del("resource_link_id")
				p.Set("content_item_return_url", "http://127.0.0.1:8081/return")
				p.Set("accept_media_types", "application/vnd.ims.lti.v1.ltilink, text/html")
				p.Set("accept_presentation_document_targets", "iframe,window")
				p.Set("accept_multiple", "false")
				p.Set("auto_create", "true")
				return "POST", f.Action, f.Action, moodleKey11, moodleSecret11
			},
			check: func(t *testing.T, l *lti.Launch) {
				require.True(t, l.IsContentItem())
				require.Equal(t, &lti.DeepLinkingSettings{
					ReturnURL:                         "http://127.0.0.1:8081/return",
					AcceptTypes:                       []string{"application/vnd.ims.lti.v1.ltilink", "text/html"},
					AcceptPresentationDocumentTargets: []string{"iframe", "window"},
					AutoCreate:                        true,
				}, l.DeepLinking)
			}},
		{name: "admin with urn roles and a canvas login name",
			edit: func(t *testing.T, p url.Values) (string, string, string, string, string) {
				p.Set("roles",
					"Instructor,urn:lti:sysrole:ims/lis/Administrator,urn:lti:instrole:ims/lis/Administrator")
				p.Del("ext_user_username")
				p.Set("custom_canvas_user_login_id", "ada")
				p.Set("context_type", "urn:lti:context-type:ims/lis/CourseSection,Group")
				return "POST", f.Action, f.Action, moodleKey11, moodleSecret11
			},
			check: func(t *testing.T, l *lti.Launch) {
				require.Equal(t,
					lti.Roles{Course: lti.RoleInstructor, SystemAdmin: true, InstitutionAdmin: true}, l.Roles)
				require.Equal(t, "ada", l.Username)
				require.Equal(t, []string{"CourseSection", "Group"}, l.Context.Types)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := f.values()
			method, signURL, verifyURL, key, secret := tt.edit(t, p)
			resign(t, method, signURL, p, secret)
			for k, vs := range tt.form {
				p[k] = append(p[k], vs...)
			}
			store := &lti.MemoryNonceStore{Now: func() time.Time { return signedAt }}
			v := &lti.LTI11Verifier{Secrets: secrets(key, secret), Nonces: store,
				Now: func() time.Time { return signedAt }}
			l, err := v.Verify(context.Background(), method, verifyURL, p)
			require.NoError(t, err)
			require.Equal(t, key, l.ConsumerKey)
			if tt.check != nil {
				tt.check(t, l)
			}
			// Any other secret fails.
			v.Secrets = secrets(key, secret+"x")
			_, err = v.Verify(context.Background(), method, verifyURL, p)
			requireCode(t, err, lti.CodeBadSignature)
		})
	}
}

func TestLTI11NonceScopedByConsumer(t *testing.T) {
	t.Parallel()
	f, _, signedAt := moodle11(t)
	store := &lti.MemoryNonceStore{Now: func() time.Time { return signedAt }}
	for _, key := range []string{"consumer-a", "consumer-b"} {
		p := f.values()
		p.Set("oauth_consumer_key", key)
		resign(t, "POST", f.Action, p, "s")
		v := &lti.LTI11Verifier{Secrets: secrets(key, "s"), Nonces: store,
			Now: func() time.Time { return signedAt }}
		_, err := v.Verify(context.Background(), "POST", f.Action, p)
		require.NoError(t, err, "the same nonce from another consumer is not a replay")
	}
	require.Equal(t, 2, store.Len())
}

// TestLTI11ReplayAtWindowEdge replays a launch at the last instant its
// timestamp is accepted: the nonce must still be remembered then.
func TestLTI11ReplayAtWindowEdge(t *testing.T) {
	t.Parallel()
	f, params, signedAt := moodle11(t)
	clk := newClock(signedAt)
	store := &lti.MemoryNonceStore{Now: clk.now}
	v := &lti.LTI11Verifier{Secrets: secrets(moodleKey11, moodleSecret11), Nonces: store, Now: clk.now}
	_, err := v.Verify(context.Background(), f.Method, f.Action, params)
	require.NoError(t, err)
	clk.set(signedAt.Add(lti.DefaultWindow))
	_, err = v.Verify(context.Background(), f.Method, f.Action, params)
	requireCode(t, err, lti.CodeReplayedNonce)
}
