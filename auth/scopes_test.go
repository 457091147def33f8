package auth_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/auth"
)

func TestValidateScope(t *testing.T) {
	for _, s := range []string{"grades", "handins", "admin:images", "users:activity!user=alice",
		"access:servers!server=alice/c1", "access:servers!user=alice"} {
		require.NoError(t, auth.ValidateScope(s), s)
	}
	for _, s := range []string{"bogus", "", "grades!", "users:activity!user=", "access:servers!server=alice",
		"access:servers!group=x", "Grades"} {
		require.Error(t, auth.ValidateScope(s), s)
	}
}
