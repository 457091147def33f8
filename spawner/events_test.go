package spawner_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/spawner"
)

// A process over the memory limit is killed by the kernel and the engine
// reports it, even though the container goes on running.
func TestWatchOOM(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan spawner.OOMEvent, 4)
	done := make(chan error, 1)
	go func() {
		done <- e.d.WatchOOM(ctx, map[string]string{testLabel: e.test}, func(ev spawner.OOMEvent) { got <- ev })
	}()
	// Give the event stream a moment to subscribe.
	time.Sleep(500 * time.Millisecond)

	spec := e.httpSpec("m", "srv-m")
	spec.Cmd = []string{"sh", "-c", `python3 -c "bytearray(256 << 20)"; echo survived; python3 -m http.server 8888`}
	spec.MemoryBytes = 96 << 20
	s := e.start(t, spec)
	select {
	case ev := <-got:
		require.Equal(t, s.ID, ev.ContainerID)
		require.Equal(t, "srv-m", ev.Labels[spawner.LabelServerID])
	case <-time.After(30 * time.Second):
		t.Fatal("no out-of-memory event")
	}
	require.NoError(t, e.d.CheckRunning(ctx, s.ID), "the container itself goes on")
	logs, err := e.d.Logs(ctx, s.ID, 10)
	require.NoError(t, err)
	require.Contains(t, logs, "survived")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}
