package web

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/lti"
)

// Every launch failure tells the administrator what to check in the
// registration and the person who launched what to do; registration
// problems are not blamed on the student's browser.
func TestEveryLaunchFailureHasAHintAndAnAction(t *testing.T) {
	codes := append([]string{codeNotTeacher}, lti.Codes...)
	for _, code := range codes {
		le := &lti.Error{Code: code}
		require.NotEmpty(t, launchHint(le), code)
		require.NotEmpty(t, launchAction(code), code)
		require.NotEmpty(t, launchMessage(code), code)
	}
	for _, code := range []string{lti.CodeUnknownPlatform, lti.CodeUnknownDeployment, lti.CodeUnknownKey,
		lti.CodeBadSignature, lti.CodeBadAudience, lti.CodeUnknownConsumer} {
		require.Equal(t, actionTellTeacher, launchAction(code), code)
	}
	for code, want := range map[string]string{
		lti.CodeUnknownDeployment: "deployment ID",
		lti.CodeUnknownKey:        "keyset URL",
		lti.CodeExpired:           "clock",
		lti.CodeStaleTimestamp:    "clock",
		lti.CodePlatformError:     "redirection URI",
		lti.CodeStateMismatch:     "HTTPS",
		lti.CodeUnknownPlatform:   "client ID",
		lti.CodeBadSignature:      "shared secret",
	} {
		require.Contains(t, launchHint(&lti.Error{Code: code}), want, code)
	}
	require.Equal(t, "own", launchHint(&lti.Error{Code: lti.CodeExpired, Hint: "own"}), "a specific hint wins")
}
