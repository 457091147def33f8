package lti_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

func TestParsePlatformError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params url.Values
		status int
		hint   string
	}{
		{"login required", url.Values{"error": {"login_required"}, "state": {"s"}}, 400, "session cookie"},
		{"redirect uri mismatch",
			url.Values{"error": {"invalid_request"}, "error_description": {"Invalid redirect_uri"}}, 400,
			"redirection URI"},
		{"wrong client", url.Values{"error": {"unauthorized_client"}}, 400, "client ID"},
		{"access denied", url.Values{"error": {"access_denied"}}, 403, "someone else"},
		{"unknown error", url.Values{"error": {"server_error"}}, 400, "initiate login URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := lti.ParsePlatformError(tt.params)
			require.NotNil(t, e)
			require.Equal(t, lti.CodePlatformError, e.Code)
			require.Equal(t, tt.status, e.Status)
			require.Contains(t, e.Detail, tt.params.Get("error"))
			require.Contains(t, e.Hint, tt.hint, "every platform error tells the administrator what to check")
		})
	}
	require.Nil(t, lti.ParsePlatformError(url.Values{"id_token": {"x"}, "state": {"s"}}))
	require.Nil(t, lti.ParsePlatformError(url.Values{"error": {""}}))
}

func TestParsePlatformErrorHostileText(t *testing.T) {
	t.Parallel()
	e := lti.ParsePlatformError(url.Values{
		"error":             {"x\r\nInjected: yes" + strings.Repeat("y", 500)},
		"error_description": {"line\nbreak\x00" + strings.Repeat("z", 500)},
	})
	require.NotNil(t, e)
	require.NotContains(t, e.Detail, "\n")
	require.NotContains(t, e.Detail, "\x00")
	require.Less(t, len(e.Detail), 400, "request text is shortened")
}

func TestErrorWrapping(t *testing.T) {
	t.Parallel()
	e := &lti.Error{Code: lti.CodeReplayedNonce, Status: 401, Detail: "nonce was already used",
		Err: lti.ErrReplay}
	require.ErrorIs(t, e, lti.ErrReplay)
	require.NotErrorIs(t, e, lti.ErrUnknownPlatform)
	require.Equal(t, "lti: replayed_nonce: nonce was already used: nonce already used", e.Error())
	wrapped := errors.Join(errors.New("launch"), e)
	var got *lti.Error
	require.ErrorAs(t, wrapped, &got)
	require.Equal(t, lti.CodeReplayedNonce, got.Code)
	require.Equal(t, "lti: bad_state", (&lti.Error{Code: lti.CodeBadState}).Error())
}
