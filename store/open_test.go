package store_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/store"
)

// An unreachable PostgreSQL gives one error naming the host, without the
// password, and GORM logs nothing of its own.
func TestOpenUnreachablePostgres(t *testing.T) {
	var logs bytes.Buffer
	_, err := store.Open(context.Background(), "postgres://labhub:s3cretpw@127.0.0.1:1/labhub?connect_timeout=2", "",
		slog.New(slog.NewTextHandler(&logs, nil)))
	require.Error(t, err)
	require.Contains(t, err.Error(), "127.0.0.1:1")
	require.NotContains(t, err.Error(), "s3cretpw")
	require.Empty(t, logs.String())
}
