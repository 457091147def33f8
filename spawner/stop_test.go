package spawner_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/spawner"
)

// When Stop returns, the container's name is free: a restart right after a
// stop must not find the old container still being removed.
func TestStopFreesTheName(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	spec := e.httpSpec("r", "srv-r")
	for range 4 {
		s, err := e.d.Start(ctx, spec)
		require.NoError(t, err)
		require.NoError(t, e.d.Stop(context.Background(), s.ID, time.Second))
		_, err = e.d.Inspect(ctx, spec.Name, "")
		require.ErrorIs(t, err, spawner.ErrNotFound, "the name is free once Stop returns")
	}
}
