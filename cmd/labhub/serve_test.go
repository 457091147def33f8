package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/config"
	"github.com/labhub/labhub/internal/testutil"
)

// serve on a port already in use stops with the bind error alone: no
// background work touches the database after it is closed.
func TestServeOnBusyPort(t *testing.T) {
	cli := testutil.Docker(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	network := fmt.Sprintf("clifix%06x", rand.Uint32()&0xffffff)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = cli.NetworkRemove(ctx, network)
	})

	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	defer slog.SetDefault(old)
	cfg := &config.Server{}
	set := config.NewSet(newRoot().Flags())
	config.DeclareCommon(set, &cfg.Common)
	config.DeclareServer(set, cfg)
	require.NoError(t, set.ApplyEnv(func(string) (string, bool) { return "", false }))
	cfg.DataDir = t.TempDir()
	cfg.Listen = busy.Addr().String()
	cfg.HubPort = 8399
	cfg.NamePrefix, cfg.Network = network, network
	err = run(t.Context(), cfg, false)
	require.ErrorContains(t, err, "address already in use")
	require.NotContains(t, logs.String(), "database is closed")
	require.NotContains(t, logs.String(), "level=ERROR")
}
