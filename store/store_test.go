package store_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
)

// Connections given back to the pool stay open for the next caller. With
// database/sql's default of two idle connections, every burst of more
// concurrent queries opened new connections (for PostgreSQL a TLS handshake
// and a login each), which made the grade worker slower the more
// deliveries ran at once.
func TestPoolKeepsConnections(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			sqlDB, err := db.DB.DB()
			require.NoError(t, err)
			ctx := context.Background()
			for round := 0; round < 3; round++ {
				conns := make([]*sql.Conn, 8)
				for i := range conns {
					conns[i], err = sqlDB.Conn(ctx)
					require.NoError(t, err)
					require.NoError(t, conns[i].PingContext(ctx))
				}
				for _, c := range conns {
					require.NoError(t, c.Close())
				}
			}
			st := sqlDB.Stats()
			require.Zero(t, st.MaxIdleClosed, "%s closed connections it had just used", name)
			require.LessOrEqual(t, st.OpenConnections, 8)
		})
	}
}
