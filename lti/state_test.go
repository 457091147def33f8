package lti_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

var stateKey = bytes.Repeat([]byte{7}, 32)

func TestStateRoundTrip(t *testing.T) {
	t.Parallel()
	clk := newClock(time.Unix(1_800_000_000, 0))
	c := &lti.StateCodec{Key: stateKey, Now: clk.now}
	state, nonce, s, err := c.New("p-1", "https://hub.example.test/lti/launch?x=é&y=1", "dep 1")
	require.NoError(t, err)
	require.Regexp(t, `^[A-Za-z0-9_.-]+$`, state, "the state must be URL-safe")
	require.Equal(t, c.Nonce(s), nonce)
	require.Equal(t, clk.now().Add(lti.DefaultStateTTL), s.Expires)

	got, err := c.Open(state)
	require.NoError(t, err)
	require.Equal(t, s, got)
	require.Equal(t, nonce, c.Nonce(got))

	state2, nonce2, s2, err := c.New("p-1", "https://hub.example.test/lti/launch?x=é&y=1", "dep 1")
	require.NoError(t, err)
	require.NotEqual(t, s.ID, s2.ID)
	require.NotEqual(t, state, state2)
	require.NotEqual(t, nonce, nonce2)

	other := &lti.StateCodec{Key: bytes.Repeat([]byte{8}, 32), Now: clk.now}
	require.NotEqual(t, nonce, other.Nonce(s), "the nonce depends on the key")
	_, err = other.Open(state)
	requireCode(t, err, lti.CodeBadState)
}

func TestStateExpiry(t *testing.T) {
	t.Parallel()
	clk := newClock(time.Unix(1_800_000_000, 0))
	c := &lti.StateCodec{Key: stateKey, TTL: time.Minute, Now: clk.now}
	state, _, _, err := c.New("p", "https://hub.example.test/", "")
	require.NoError(t, err)
	clk.advance(time.Minute - time.Second)
	_, err = c.Open(state)
	require.NoError(t, err)
	clk.advance(time.Second)
	e := requireCode(t, err2(c.Open(state)), lti.CodeExpiredState)
	require.Equal(t, 400, e.Status)
}

func err2[T any](_ T, err error) error { return err }

func TestStateTampering(t *testing.T) {
	t.Parallel()
	c := &lti.StateCodec{Key: stateKey}
	state, _, _, err := c.New("p", "https://hub.example.test/", "1")
	require.NoError(t, err)
	for i := range len(state) {
		_, err := c.Open(mutate(state, i))
		requireCode(t, err, lti.CodeBadState)
	}
	// A correctly signed but malformed payload is refused as well.
	sign := func(payload string) string {
		body := base64.RawURLEncoding.EncodeToString([]byte(payload))
		h := hmac.New(sha256.New, stateKey)
		h.Write([]byte("state\x00" + body))
		return body + "." + base64.RawURLEncoding.EncodeToString(h.Sum(nil))
	}
	require.NoError(t, err2(c.Open(sign(`{"i":"x","p":"p","t":"t","e":99999999999}`))),
		"the signing scheme above is right")
	tests := []struct{ name, state string }{
		{"empty", ""},
		{"dot", "."},
		{"no signature", strings.Split(state, ".")[0]},
		{"two dots", state + ".x"},
		{"padded base64", state + "="},
		{"huge", strings.Repeat("a", 10000) + "." + strings.Repeat("b", 43)},
		{"signed null", sign("null")},
		{"signed array", sign(`["x"]`)},
		{"signed without id", sign(`{"p":"p","t":"t","e":99999999999}`)},
		{"signed unknown field", sign(`{"i":"x","p":"p","t":"t","e":99999999999,"admin":true}`)},
		{"signed already expired", sign(`{"i":"x","p":"p","t":"t","e":1}`)},
		{"nonce passed off as a state", func() string {
			s, _ := c.Open(state)
			return base64.RawURLEncoding.EncodeToString([]byte(s.ID)) + "." + c.Nonce(s)
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Open(tt.state)
			require.Error(t, err)
			var e *lti.Error
			require.ErrorAs(t, err, &e)
			require.Contains(t, []string{lti.CodeBadState, lti.CodeExpiredState}, e.Code)
		})
	}
}

func TestStateKeyTooShort(t *testing.T) {
	t.Parallel()
	c := &lti.StateCodec{Key: make([]byte, lti.MinStateKeyLen-1)}
	_, _, _, err := c.New("p", "https://hub.example.test/", "")
	require.Error(t, err)
	requireCode(t, err2(c.Open("a.b")), lti.CodeMisconfigured)
}

func TestStateMatch(t *testing.T) {
	t.Parallel()
	p := lti.Platform{ID: "p-1"}
	s := lti.State{ID: "x", PlatformID: "p-1", DeploymentID: "1"}
	require.NoError(t, s.Match(p, &lti.Launch{DeploymentID: "1"}))
	requireCode(t, s.Match(lti.Platform{ID: "p-2"}, &lti.Launch{DeploymentID: "1"}), lti.CodeBadState)
	requireCode(t, s.Match(p, &lti.Launch{DeploymentID: "2"}), lti.CodeBadState)
	s.DeploymentID = ""
	require.NoError(t, s.Match(p, &lti.Launch{DeploymentID: "2"}),
		"a login without deployment accepts any")
}
