// Package store opens Labhub's database and defines the rows it keeps.
//
// SQLite (one file in the data directory, write-ahead log, foreign keys,
// immediate write transactions) is the default; a PostgreSQL DSN selects
// PostgreSQL. The schema itself is created and changed only by package
// migrations, never by these live models.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// ErrNotFound is returned by lookups that find nothing.
var ErrNotFound = errors.New("not found")

// DB is an open database.
type DB struct {
	*gorm.DB
	// Path is the SQLite file, "" for PostgreSQL.
	Path string
}

// Open opens the database named by dsn (a PostgreSQL DSN) or, when dsn is
// empty, the SQLite file labhub.db in dataDir, creating the directory.
func Open(ctx context.Context, dsn, dataDir string, log *slog.Logger) (*DB, error) {
	cfg := &gorm.Config{
		Logger:                 newLogger(log),
		NowFunc:                func() time.Time { return time.Now().UTC() },
		SkipDefaultTransaction: true,
		TranslateError:         true,
	}
	if dsn != "" {
		if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") && !strings.Contains(dsn, "host=") {
			return nil, fmt.Errorf("database %q is not a PostgreSQL DSN (postgres://user:pass@host/db)", redact(dsn))
		}
		// GORM logs a failed open itself, raw; the error returned says it
		// once, with the host and without the password.
		cfg.Logger = logger.Discard
		host := dsnHost(dsn)
		g, err := gorm.Open(postgres.Open(dsn), cfg)
		if err != nil {
			return nil, fmt.Errorf("open postgresql at %s: %w", host, err)
		}
		g.Logger = newLogger(log)
		sqlDB, err := g.DB()
		if err != nil {
			return nil, fmt.Errorf("open postgresql at %s: %w", host, err)
		}
		sqlDB.SetMaxOpenConns(20)
		// Keep what was opened: a new connection costs a TLS handshake and
		// a login (database/sql keeps only two by default).
		sqlDB.SetMaxIdleConns(20)
		if err := sqlDB.PingContext(ctx); err != nil {
			return nil, fmt.Errorf("connect to postgresql at %s: %w", host, err)
		}
		return &DB{DB: g}, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dataDir, "labhub.db")
	g, err := gorm.Open(sqlite.Open(sqliteDSN(path)), cfg)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// SQLite has one writer at a time; a small pool with a busy timeout
	// queues writers instead of failing them.
	sqlDB.SetMaxOpenConns(8)
	sqlDB.SetMaxIdleConns(8)
	if err := sqlDB.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	var mode string
	if err := g.Raw("PRAGMA journal_mode").Scan(&mode).Error; err != nil || !strings.EqualFold(mode, "wal") {
		return nil, fmt.Errorf("sqlite %s: journal mode is %q, want wal (%v)", path, mode, err)
	}
	return &DB{DB: g, Path: path}, nil
}

// sqliteDSN names the file and the per-connection settings: write-ahead log,
// a busy timeout so writers queue, foreign keys on, and BEGIN IMMEDIATE so a
// read transaction never fails halfway when it turns into a write.
func sqliteDSN(path string) string {
	return "file:" + path + "?_journal_mode=WAL&_busy_timeout=10000&_foreign_keys=on&_txlock=immediate&_synchronous=NORMAL"
}

// Close closes the database.
func (db *DB) Close() error {
	sqlDB, err := db.DB.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// IsSQLite reports whether the database is SQLite.
func (db *DB) IsSQLite() bool { return db.Path != "" }

// Backup copies a SQLite database to a timestamped file beside it and
// returns the copy's path. It is a no-op for PostgreSQL.
func (db *DB) Backup(ctx context.Context, now time.Time) (string, error) {
	if !db.IsSQLite() {
		return "", nil
	}
	dst := fmt.Sprintf("%s.%s.bak", db.Path, now.UTC().Format("20060102-150405"))
	if _, err := os.Stat(dst); err == nil {
		return "", fmt.Errorf("backup %s already exists", dst)
	}
	// VACUUM INTO writes a consistent copy even while the WAL holds pages.
	if err := db.WithContext(ctx).Exec("VACUUM INTO ?", dst).Error; err != nil {
		return "", fmt.Errorf("back up sqlite to %s: %w", dst, err)
	}
	return dst, nil
}

// IsUniqueViolation reports whether err is a unique constraint violation.
func IsUniqueViolation(err error) bool {
	return errors.Is(err, gorm.ErrDuplicatedKey) ||
		(err != nil && strings.Contains(strings.ToLower(err.Error()), "unique constraint"))
}

// dsnHost returns the host (and port) a PostgreSQL DSN names, for messages.
func dsnHost(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Host != "" {
		return u.Host
	}
	for _, f := range strings.Fields(dsn) {
		if h, ok := strings.CutPrefix(f, "host="); ok {
			return h
		}
	}
	return "the default host"
}

func redact(dsn string) string {
	if i := strings.Index(dsn, "@"); i > 0 {
		return "***" + dsn[i:]
	}
	return dsn
}

func newLogger(log *slog.Logger) logger.Interface {
	if log == nil {
		log = slog.Default()
	}
	return logger.NewSlogLogger(log, logger.Config{
		SlowThreshold:             time.Second,
		LogLevel:                  logger.Warn,
		IgnoreRecordNotFoundError: true,
		ParameterizedQueries:      true,
	})
}
