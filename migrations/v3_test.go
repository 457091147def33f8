package migrations_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/migrations"
	"github.com/labhub/labhub/store"
)

// Keys of a database from before rotation are the ones signing: migration
// 3 marks them active, leaves retired keys alone, and new platforms reject
// unknown deployments.
func TestV3MarksExistingKeysActive(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			retired := created.Add(time.Hour)
			require.NoError(t, db.Create(&store.ToolKey{KID: "old", PrivateSealed: []byte{1}, CreatedAt: created}).Error)
			require.NoError(t, db.Create(&store.ToolKey{KID: "gone", PrivateSealed: []byte{1}, CreatedAt: created,
				RetiredAt: &retired}).Error)
			require.NoError(t, migrations.V3LTIAdvantage(db.DB))
			var old, gone store.ToolKey
			require.NoError(t, db.Where("kid = ?", "old").First(&old).Error)
			require.NoError(t, db.Where("kid = ?", "gone").First(&gone).Error)
			require.NotNil(t, old.ActivatedAt)
			require.True(t, created.Equal(*old.ActivatedAt))
			require.Nil(t, gone.ActivatedAt)

			require.NoError(t, db.Exec("INSERT INTO platforms (issuer, client_id, auth_url, jwks_url) VALUES ('i', 'c', 'a', 'j')").Error)
			var p store.Platform
			require.NoError(t, db.First(&p).Error)
			require.Equal(t, "reject", p.DeploymentPolicy)
		})
	}
}
