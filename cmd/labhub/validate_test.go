package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
)

// Settings that would make every server start fail are refused when Labhub
// starts, naming the setting.
func TestServerSettingsRefused(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LABHUB_NOTEBOOK_OWNER": "abc"}, "--notebook-owner"},
		{map[string]string{"LABHUB_NOTEBOOK_OWNER": "1000:9999999999"}, "out of range"},
		{map[string]string{"LABHUB_NOTEBOOK_DIR": "home"}, "absolute path"},
		{map[string]string{"LABHUB_HOME_VOLUME": "home-{course}"}, "{username}"},
		{map[string]string{"LABHUB_NAME_PREFIX": "a-b"}, "name prefix"},
	} {
		_, err := serverConfig(t, tc.env)
		require.ErrorContains(t, err, tc.want, "%v", tc.env)
	}
	_, err := serverConfig(t, map[string]string{"LABHUB_NOTEBOOK_OWNER": "1000:100"})
	require.NoError(t, err)
}

// The installation's id is made once, by whichever command needs it first,
// and is never empty.
func TestInstanceID(t *testing.T) {
	db := testutil.SQLite(t)
	ctx := context.Background()
	id, err := instanceID(ctx, db)
	require.NoError(t, err)
	require.Len(t, id, 16)
	again, err := instanceID(ctx, db)
	require.NoError(t, err)
	require.Equal(t, id, again)
}
