package lti_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

func FuzzBaseString(f *testing.F) {
	fm := loadForm(f, "lti11-student-launch.json")
	f.Add(fm.Method, fm.Action, fm.values().Encode())
	f.Add("POST", "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b", "c2&a3=2+q")
	f.Add("get", "HTTPS://[::1]:443/a%2Fb?x=%E2%98%83", "a=&a=&=b")
	f.Fuzz(func(t *testing.T, method, rawURL, body string) {
		params, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		base, err := lti.BaseString(method, rawURL, params)
		if err != nil {
			return
		}
		// Every part is percent-encoded, so exactly two separators remain.
		parts := strings.Split(base, "&")
		require.Len(t, parts, 3)
		require.Equal(t, strings.ToUpper(method), parts[0])
		again, err := lti.BaseString(method, rawURL, params)
		require.NoError(t, err)
		require.Equal(t, base, again)
		sig, err := lti.Sign(method, rawURL, params, "s", "")
		require.NoError(t, err)
		params.Set("oauth_signature", sig)
		withSig, err := lti.BaseString(method, rawURL, params)
		require.NoError(t, err)
		require.Equal(t, base, withSig, "oauth_signature is never part of the base string")
	})
}

func FuzzVerifyLTI11(f *testing.F) {
	fm, params, signedAt := moodle11(f)
	f.Add(fm.Method, fm.Action, params.Encode())
	f.Add("POST", fm.Action, "oauth_consumer_key=moodle-lti11-key&oauth_signature=x")
	f.Add("GET", "http://h.test/?q=1", "")
	f.Fuzz(func(t *testing.T, method, signedURL, body string) {
		p, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		v := &lti.LTI11Verifier{
			Secrets: secrets(moodleKey11, moodleSecret11),
			Nonces:  acceptAll{},
			Now:     func() time.Time { return signedAt },
		}
		l, err := v.Verify(context.Background(), method, signedURL, p)
		if err != nil {
			var e *lti.Error
			require.ErrorAs(t, err, &e)
			require.NotEmpty(t, e.Code)
			return
		}
		// Success needs the right signature over exactly these inputs.
		base := signedURL
		if i := strings.IndexAny(base, "?#"); i >= 0 {
			base = base[:i]
		}
		want, err := lti.Sign(method, base, p, moodleSecret11, "")
		require.NoError(t, err)
		require.Equal(t, want, p.Get("oauth_signature"))
		require.Equal(t, p.Get("user_id"), l.Subject)
		require.NotEmpty(t, l.Subject)
	})
}

// acceptAll is a nonce store that never reports a replay, so that fuzzing
// can reach success more than once.
type acceptAll struct{}

func (acceptAll) UseNonce(context.Context, string, string, time.Time) error { return nil }

func FuzzLTI13Verify(f *testing.F) {
	student := readToken(f, "lti13-student-resource-link.jwt")
	for _, name := range []string{"lti13-teacher-resource-link.jwt", "lti13-deep-linking.jwt"} {
		f.Add(readToken(f, name))
	}
	f.Add(student)
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add(student[:strings.LastIndex(student, ".")+1])
	iat := unixClaim(f, payloadOf(f, student), "iat")
	clk := newClock(iat.Add(5 * time.Second))
	v, _, _ := moodleVerifier(f, clk)
	v.Nonces = acceptAll{}
	f.Fuzz(func(t *testing.T, tok string) {
		l, _, err := v.Verify(context.Background(), tok, "nonce-test-456")
		if err != nil {
			var e *lti.Error
			require.ErrorAs(t, err, &e)
			require.NotEmpty(t, e.Code)
			require.NotZero(t, e.Status)
			return
		}
		// Only the genuine token carries a valid signature and that nonce.
		require.Equal(t, student, tok)
		require.Equal(t, "4", l.Subject)
	})
}

func BenchmarkLTI13Verify(b *testing.B) {
	tok := readToken(b, "lti13-student-resource-link.jwt")
	iat := unixClaim(b, payloadOf(b, tok), "iat")
	v, _, _ := moodleVerifier(b, newClock(iat.Add(5*time.Second)))
	// Storage is the caller's cost; this measures parsing, the cached key
	// lookup, the RSA check and building the launch.
	v.Nonces = acceptAll{}
	ctx := context.Background()
	_, _, err := v.Verify(ctx, tok, "nonce-test-456") // warms the key cache
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := v.Verify(ctx, tok, "nonce-test-456"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLTI11Verify(b *testing.B) {
	fm, params, signedAt := moodle11(b)
	v := &lti.LTI11Verifier{Secrets: secrets(moodleKey11, moodleSecret11), Nonces: acceptAll{},
		Now: func() time.Time { return signedAt }}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, fm.Method, fm.Action, params); err != nil {
			b.Fatal(err)
		}
	}
}
