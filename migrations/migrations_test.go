package migrations_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/migrations"
	"github.com/labhub/labhub/store"
)

// Every table the live models use must exist after migrating, with every
// column the models have: a model change without a migration fails here.
func TestSchemaMatchesModels(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			m := db.Migrator()
			for _, model := range []any{&store.User{}, &store.Identity{}, &store.Platform{}, &store.Deployment{},
				&store.Consumer{}, &store.Nonce{}, &store.ToolKey{}, &store.Image{}, &store.Course{},
				&store.Enrollment{}, &store.Activity{}, &store.GradeLink{}, &store.Server{}, &store.Token{},
				&store.OAuthClient{}, &store.OAuthCode{}, &store.Session{}, &store.Setting{},
				&store.NativeAccount{}, &store.LoginThrottle{},
				&store.RegistrationInvite{},
				&store.Assignment{}, &store.Handin{}, &store.Grade{}, &store.GradeDelivery{},
				&store.StartCopy{}, &store.AuditEntry{}, &store.HelpGrant{}} {
				require.True(t, m.HasTable(model), "%T has no table", model)
				stmt := &gorm.Statement{DB: db.DB}
				require.NoError(t, stmt.Parse(model))
				for _, f := range stmt.Schema.Fields {
					if f.DBName == "" {
						continue
					}
					require.True(t, m.HasColumn(model, f.DBName), "%T: column %s missing", model, f.DBName)
				}
			}
			v, err := migrations.Current(context.Background(), db.DB)
			require.NoError(t, err)
			require.Equal(t, migrations.Latest(), v)
		})
	}
}

func TestRunIsIdempotent(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			n, err := migrations.Run(context.Background(), db.DB, func(context.Context) (string, error) {
				t.Fatal("no backup expected when nothing is pending")
				return "", nil
			}, nil)
			require.NoError(t, err)
			require.Zero(t, n)
		})
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	db := testutil.SQLite(t)
	require.NoError(t, db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', CURRENT_TIMESTAMP)",
		migrations.Latest()+1).Error)
	_, err := migrations.Run(context.Background(), db.DB, nil, nil)
	require.ErrorContains(t, err, "newer than this labhub knows")
}

// An upgrade of a database that has a schema copies the SQLite file aside
// first; the copy is a complete database.
func TestBackupBeforeUpgrade(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, "", dir, nil)
	require.NoError(t, err)
	defer db.Close()
	_, err = migrations.Run(ctx, db.DB, nil, nil)
	require.NoError(t, err)
	require.NoError(t, db.Create(&store.User{Name: "kept"}).Error)

	var backup string
	restore := migrations.AppendForTest(func(tx *gorm.DB) error {
		return tx.Exec("CREATE TABLE added_later (id INTEGER)").Error
	})
	defer restore()
	n, err := migrations.Run(ctx, db.DB, func(ctx context.Context) (string, error) {
		p, err := db.Backup(ctx, time.Now())
		backup = p
		return p, err
	}, nil)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.FileExists(t, backup)
	require.Equal(t, dir, filepath.Dir(backup))
	require.True(t, db.Migrator().HasTable("added_later"))
	raw, err := os.ReadFile(backup)
	require.NoError(t, err)
	require.Contains(t, string(raw), "kept")
}

// A failing migration leaves nothing behind: its changes and its record are
// rolled back together.
func TestFailedMigrationRollsBack(t *testing.T) {
	db := testutil.SQLite(t)
	restore := migrations.AppendForTest(func(tx *gorm.DB) error {
		if err := tx.Exec("CREATE TABLE half_done (id INTEGER)").Error; err != nil {
			return err
		}
		return gorm.ErrInvalidData
	})
	defer restore()
	_, err := migrations.Run(context.Background(), db.DB, nil, nil)
	require.Error(t, err)
	require.False(t, db.Migrator().HasTable("half_done"))
	v, err := migrations.Current(context.Background(), db.DB)
	require.NoError(t, err)
	require.Equal(t, migrations.Latest()-1, v, "the failed migration must not be recorded")
}
