package lti_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

// payloadOf decodes a token's claims without verifying anything.
func payloadOf(t testing.TB, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func unixClaim(t testing.TB, c map[string]any, name string) time.Time {
	t.Helper()
	f, ok := c[name].(float64)
	require.True(t, ok, name)
	return time.Unix(int64(f), 0)
}

// moodleVerifier verifies the captured Moodle tokens with the clock, and the
// nonce store's, set by clk.
func moodleVerifier(t testing.TB, clk *clock) (*lti.LTI13Verifier, *lti.MemoryNonceStore,
	*keyServer) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "platform-jwks.json"))
	require.NoError(t, err)
	srv := newKeyServer(t, body)
	p := moodlePlatform()
	p.JWKSURL = srv.URL + "/mod/lti/certs.php"
	store := &lti.MemoryNonceStore{Now: clk.now}
	return &lti.LTI13Verifier{
		Keys:   &lti.KeySetCache{Client: srv.Client(), Now: clk.now},
		Lookup: lookupOf(p),
		Nonces: store,
		Now:    clk.now,
	}, store, srv
}

func TestLTI13MoodleTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, nonce string
		check       func(t *testing.T, l *lti.Launch)
	}{
		{file: "lti13-student-resource-link.jwt", nonce: "nonce-test-456",
			check: func(t *testing.T, l *lti.Launch) {
				require.Equal(t, lti.MessageResourceLink, l.MessageType)
				require.Equal(t, "4", l.Subject)
				require.Equal(t, "student1", l.Username)
				require.Equal(t, "Sam Student", l.Name)
				require.Equal(t, lti.Roles{Course: lti.RoleLearner}, l.Roles)
				require.Equal(t, lti.ResourceLink{ID: "1", Title: "Jupyter (LTI 1.3)"}, l.ResourceLink)
				require.Equal(t, "lti13-demo", l.Custom["activity_custom"])
				require.NotNil(t, l.Outcome, "moodle sends the 1.1 outcome claim in 1.3 tokens")
				require.Equal(t, "http://127.0.0.1:8081/mod/lti/service.php", l.Outcome.ServiceURL)
				require.True(t, strings.HasPrefix(l.Outcome.SourcedID, `{"data":{"instanceid":"1","userid":"4"`))
				require.NotNil(t, l.AGS)
				require.Equal(t, "http://127.0.0.1:8081/mod/lti/services.php/2/lineitems/2/lineitem?type_id=1",
					l.AGS.LineItem)
				require.Equal(t, "http://127.0.0.1:8081/mod/lti/services.php/2/lineitems?type_id=1",
					l.AGS.LineItems)
				require.Len(t, l.AGS.Scopes, 4)
				require.Equal(t, "window", l.Presentation.DocumentTarget)
				require.Contains(t, l.Presentation.ReturnURL, "/mod/lti/return.php")
				require.Nil(t, l.DeepLinking)
				require.Equal(t, "http://127.0.0.1:9000/lti13/launch", l.TargetLinkURI)
			}},
		{file: "lti13-teacher-resource-link.jwt", nonce: "n1", check: func(t *testing.T, l *lti.Launch) {
			require.Equal(t, "3", l.Subject)
			require.Equal(t, "teacher1", l.Username)
			require.Equal(t, lti.Roles{Course: lti.RoleInstructor}, l.Roles)
			require.Equal(t, []string{"http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"},
				l.RawRoles)
		}},
		{file: "lti13-deep-linking.jwt", nonce: "n2", check: func(t *testing.T, l *lti.Launch) {
			require.Equal(t, lti.MessageDeepLinking, l.MessageType)
			require.False(t, l.IsContentItem())
			require.NotNil(t, l.DeepLinking)
			require.Equal(t,
				"http://127.0.0.1:8081/mod/lti/contentitem_return.php?course=2&id=1&sesskey=emsRl0YUYD",
				l.DeepLinking.ReturnURL)
			require.Equal(t, []string{"ltiResourceLink"}, l.DeepLinking.AcceptTypes)
			require.Equal(t, []string{"frame", "iframe", "window"},
				l.DeepLinking.AcceptPresentationDocumentTargets)
			require.True(t, l.DeepLinking.AcceptMultiple)
			require.False(t, l.DeepLinking.AutoCreate)
			require.Equal(t, "New Jupyter activity", l.DeepLinking.Title)
			require.Nil(t, l.Outcome)
			require.Empty(t, l.AGS.LineItem, "no line item is coupled when content is being chosen")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			tok := readToken(t, tt.file)
			iat := unixClaim(t, payloadOf(t, tok), "iat")
			v, store, _ := moodleVerifier(t, newClock(iat.Add(5*time.Second)))

			l, p, err := v.Verify(context.Background(), tok, tt.nonce)
			require.NoError(t, err)
			require.Equal(t, "moodle", p.ID)
			require.Equal(t, "1.3", l.Version)
			require.Equal(t, moodleIssuer, l.Issuer)
			require.Equal(t, moodleClientID, l.ClientID)
			require.Equal(t, "1", l.DeploymentID)
			require.Equal(t, lti.Context{ID: "2", Label: "LTI101", Title: "LTI Acceptance Course",
				Types: []string{"CourseSection"}}, l.Context)
			require.Equal(t, lti.ToolPlatform{GUID: "e6087f6f8530f6472c80e3ba85609277", Name: "ltimoodle",
				ProductFamilyCode: "moodle", Version: "2024100706"}, l.ToolPlatform)
			require.NotNil(t, l.NRPS)
			require.Equal(t,
				"http://127.0.0.1:8081/mod/lti/services.php/CourseSection/2/bindings/1/memberships",
				l.NRPS.MembershipsURL)
			require.Equal(t, []string{"1.0", "2.0"}, l.NRPS.Versions)
			require.Equal(t, "en", l.Presentation.Locale)
			for path, want := range map[string]string{
				"ext.user_username":        l.Username,
				"custom.moodle_user_login": l.Username,
				"ext.lms":                  "moodle-2",
				"lis.person_sourcedid":     "",
				"context.label":            "LTI101",
				"https://purl.imsglobal.org/spec/lti/claim/context.label": "LTI101",
				"https://purl.imsglobal.org/spec/lti/claim/version":       "1.3.0",
				"deployment_id": "1",
				"sub":           l.Subject,
				"email":         l.Email,
				"iat":           strconv.FormatInt(unixClaim(t, payloadOf(t, tok), "iat").Unix(), 10),
			} {
				got, ok := l.Claim(path)
				require.True(t, ok, path)
				require.Equal(t, want, got, path)
			}
			require.NotEmpty(t, l.Email)
			tt.check(t, l)
			require.Equal(t, 1, store.Len())

			_, _, err = v.Verify(context.Background(), tok, tt.nonce)
			requireCode(t, err, lti.CodeReplayedNonce)
			require.ErrorIs(t, err, lti.ErrReplay)
		})
	}
}

// TestLTI13MoodleEveryByteMatters changes each byte of a real token in turn:
// none of the changed tokens may verify, and none may record a nonce.
func TestLTI13MoodleEveryByteMatters(t *testing.T) {
	t.Parallel()
	tok := readToken(t, "lti13-student-resource-link.jwt")
	iat := unixClaim(t, payloadOf(t, tok), "iat")
	v, store, _ := moodleVerifier(t, newClock(iat.Add(5*time.Second)))
	ctx := context.Background()
	for i := range len(tok) {
		_, _, err := v.Verify(ctx, mutate(tok, i), "nonce-test-456")
		require.Error(t, err, "byte %d", i)
	}
	unsigned := tok[:strings.LastIndex(tok, ".")]
	for _, cut := range []string{tok[:len(tok)-1], tok + "A", tok[1:], unsigned, unsigned + "."} {
		_, _, err := v.Verify(ctx, cut, "nonce-test-456")
		require.Error(t, err)
	}
	require.Zero(t, store.Len())
	_, _, err := v.Verify(ctx, tok, "nonce-test-456")
	require.NoError(t, err, "the untouched token still verifies")
}

func TestLTI13MoodleClock(t *testing.T) {
	t.Parallel()
	tok := readToken(t, "lti13-student-resource-link.jwt")
	c := payloadOf(t, tok)
	exp := unixClaim(t, c, "exp")
	tests := []struct {
		name string
		now  time.Time
		code string
	}{
		{"at exp plus leeway", exp.Add(lti.DefaultLeeway), ""},
		{"one second later", exp.Add(lti.DefaultLeeway + time.Second), lti.CodeExpired},
		{"issued beyond the leeway in the future",
			unixClaim(t, c, "iat").Add(-lti.DefaultLeeway - time.Second), lti.CodeIssuedInFuture},
		{"issued within the leeway in the future", unixClaim(t, c, "iat").Add(-lti.DefaultLeeway), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, _, _ := moodleVerifier(t, newClock(tt.now))
			_, _, err := v.Verify(context.Background(), tok, "nonce-test-456")
			if tt.code == "" {
				require.NoError(t, err)
				return
			}
			e := requireCode(t, err, tt.code)
			require.Equal(t, 401, e.Status)
			require.NotEmpty(t, e.Hint, "clock problems come with a hint")
		})
	}
}

// TestLTI13ReplayAtExpiryEdge replays a token at the last instant it is
// accepted: the nonce must still be remembered then.
func TestLTI13ReplayAtExpiryEdge(t *testing.T) {
	t.Parallel()
	tok := readToken(t, "lti13-student-resource-link.jwt")
	c := payloadOf(t, tok)
	clk := newClock(unixClaim(t, c, "iat"))
	v, _, _ := moodleVerifier(t, clk)
	_, _, err := v.Verify(context.Background(), tok, "nonce-test-456")
	require.NoError(t, err)
	clk.set(unixClaim(t, c, "exp").Add(lti.DefaultLeeway))
	_, _, err = v.Verify(context.Background(), tok, "nonce-test-456")
	requireCode(t, err, lti.CodeReplayedNonce)
}
