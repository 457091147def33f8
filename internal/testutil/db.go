package testutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/labhub/labhub/migrations"
	"github.com/labhub/labhub/store"
)

var quiet = slog.New(slog.DiscardHandler)

// PostgresEnv names the variable with the DSN of a PostgreSQL server the
// tests may create databases on (.ci/run sets it).
const PostgresEnv = "LABHUB_TEST_POSTGRES"

// Backends returns a fresh, migrated database for every backend the tests
// run against: SQLite always, PostgreSQL when LABHUB_TEST_POSTGRES is set.
// Without it the PostgreSQL case fails the test unless -short is given, so a
// CI run cannot silently test one backend only.
func Backends(t testing.TB) map[string]*store.DB {
	t.Helper()
	out := map[string]*store.DB{"sqlite": SQLite(t)}
	if pg := Postgres(t); pg != nil {
		out["postgres"] = pg
	}
	return out
}

// SQLite returns a fresh, migrated SQLite database in a temporary directory.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "", t.TempDir(), nil)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := migrations.Run(ctx, db.DB, nil, quiet); err != nil {
		t.Fatalf("migrate sqlite: %v", err)
	}
	return db
}

// Postgres returns a fresh, migrated database on the server named by
// LABHUB_TEST_POSTGRES, dropped when the test ends; nil under -short when
// the variable is unset.
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	dsn := os.Getenv(PostgresEnv)
	if dsn == "" {
		if testing.Short() {
			return nil
		}
		t.Fatalf("%s is not set; .ci/run starts PostgreSQL and sets it (use -short to skip PostgreSQL)", PostgresEnv)
	}
	ctx := context.Background()
	admin, err := gorm.Open(postgres.Open(dsn), &gorm.Config{})
	if err != nil {
		t.Fatalf("connect to postgresql: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "labhub_test_" + hex.EncodeToString(b)
	if err := admin.Exec("CREATE DATABASE " + name).Error; err != nil {
		t.Fatalf("create test database: %v", err)
	}
	cfg, err := pgxDSN(dsn, name)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, cfg, "", nil)
	if err != nil {
		t.Fatalf("open postgresql: %v", err)
	}
	t.Cleanup(func() {
		db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		admin.WithContext(ctx).Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		if sqlDB, err := admin.DB(); err == nil {
			sqlDB.Close()
		}
	})
	if _, err := migrations.Run(ctx, db.DB, nil, quiet); err != nil {
		t.Fatalf("migrate postgresql: %v", err)
	}
	return db
}
func pgxDSN(dsn, name string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("%s must be a postgres:// URL", PostgresEnv)
	}
	u.Path = "/" + name
	return u.String(), nil
}
