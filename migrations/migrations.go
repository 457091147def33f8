// Package migrations creates and upgrades Labhub's database schema.
//
// Migrations are forward-only and numbered. Each one declares frozen copies
// of the tables it touches, as they were when it was written, so a later
// change to the live models in package store never changes what an old
// migration does. A migration never edits or drops another's history: to
// change a table, append a new migration. Every migration runs in its own
// transaction together with the row that records it.
package migrations

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
)

// Migration is one numbered schema change.
type Migration struct {
	Version int
	Name    string
	Up      func(tx *gorm.DB) error
}

// all lists every migration in order. Append only.
var all = []Migration{
	{1, "initial schema", v1InitialSchema},
	{2, "activity image and start path", v2ActivityChoice},
	{3, "lti advantage: frame origins, deployment policy, key rotation, registration invites", v3LTIAdvantage},
	{4, "hand-ins and grades", v4HandinsAndGrades},
	{5, "native accounts and login throttle", v5FallbackLogins},
	{6, "course environment", v6CourseEnvironment},
}

// schemaMigration records an applied migration.
type schemaMigration struct {
	Version   int `gorm:"primaryKey;autoIncrement:false"`
	Name      string
	AppliedAt time.Time
}

func (schemaMigration) TableName() string { return "schema_migrations" }

// Latest returns the version of the newest migration this build knows.
func Latest() int { return all[len(all)-1].Version }

// Current returns the newest applied version, 0 for an empty database.
func Current(ctx context.Context, db *gorm.DB) (int, error) {
	if !db.Migrator().HasTable(&schemaMigration{}) {
		return 0, nil
	}
	var v int
	if err := db.WithContext(ctx).Model(&schemaMigration{}).Select("COALESCE(MAX(version), 0)").Scan(&v).Error; err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// Pending returns the migrations not yet applied.
func Pending(ctx context.Context, db *gorm.DB) ([]Migration, error) {
	cur, err := Current(ctx, db)
	if err != nil {
		return nil, err
	}
	if cur > Latest() {
		return nil, fmt.Errorf("database schema version %d is newer than this labhub knows (%d): run a newer labhub or restore a backup", cur, Latest())
	}
	var out []Migration
	for _, m := range all {
		if m.Version > cur {
			out = append(out, m)
		}
	}
	return out, nil
}

// Backup copies the database aside before an upgrade; it returns the path of
// the copy, or "" when there is nothing to copy.
type Backup func(ctx context.Context) (string, error)

// Run applies every pending migration. When the database already holds a
// schema and backup is not nil, it is called once before the first change.
func Run(ctx context.Context, db *gorm.DB, backup Backup, log *slog.Logger) (applied int, err error) {
	if log == nil {
		log = slog.Default()
	}
	if err := db.WithContext(ctx).AutoMigrate(&schemaMigration{}); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	cur, err := Current(ctx, db)
	if err != nil {
		return 0, err
	}
	pending, err := Pending(ctx, db)
	if err != nil {
		return 0, err
	}
	if len(pending) == 0 {
		return 0, nil
	}
	if cur > 0 && backup != nil {
		path, err := backup(ctx)
		if err != nil {
			return 0, fmt.Errorf("back up before migrating: %w", err)
		}
		if path != "" {
			log.Info("backed up database before migrating", "backup_path", path, "from_version", cur)
		}
	}
	for _, m := range pending {
		err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := m.Up(tx); err != nil {
				return err
			}
			return tx.Create(&schemaMigration{Version: m.Version, Name: m.Name, AppliedAt: time.Now().UTC()}).Error
		})
		if err != nil {
			return applied, fmt.Errorf("migration %d (%s): %w", m.Version, m.Name, err)
		}
		applied++
		log.Info("applied migration", "version", m.Version, "name", m.Name)
	}
	return applied, nil
}
