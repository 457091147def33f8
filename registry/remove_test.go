package registry_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/internal/testutil"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/store"
)

// A removed registration refuses launches; one whose courses still have
// grades to deliver is kept.
func TestRemoveRegistrations(t *testing.T) {
	for name, db := range testutil.Backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			r := registry.New(db, keyring(t), nil)
			p, err := r.PutPlatform(ctx, registry.PlatformInput{Issuer: "https://lms.example", ClientID: "c1",
				AuthURL: "https://lms.example/auth", JWKSURL: "https://lms.example/jwks", Deployments: []string{"1"}})
			require.NoError(t, err)
			c, err := r.PutConsumer(ctx, "k1", "s1", "")
			require.NoError(t, err)

			// A course of the platform with a grade still pending.
			crs := store.Course{Provider: registry.ProviderLTI13(p.ID), ContextID: "ctx", Slug: "c"}
			require.NoError(t, db.Create(&crs).Error)
			act := store.Activity{CourseID: crs.ID, ResourceLinkID: "rl"}
			require.NoError(t, db.Create(&act).Error)
			u := store.User{Name: "alice"}
			require.NoError(t, db.Create(&u).Error)
			g := store.Grade{ActivityID: act.ID, UserID: u.ID, Version: 1, Timestamp: time.Now()}
			require.NoError(t, db.Create(&g).Error)
			d := store.GradeDelivery{GradeID: g.ID, Version: 1, State: store.DeliveryPending, NextAttemptAt: time.Now()}
			require.NoError(t, db.Create(&d).Error)

			err = r.RemovePlatform(ctx, p.ID)
			require.ErrorIs(t, err, registry.ErrUndelivered)
			_, err = r.Platform(ctx, "https://lms.example", "c1")
			require.NoError(t, err, "still registered")

			require.NoError(t, db.Model(&d).Update("state", store.DeliveryDelivered).Error)
			require.NoError(t, r.RemovePlatform(ctx, p.ID))
			_, err = r.Platform(ctx, "https://lms.example", "c1")
			require.Error(t, err, "launches are refused")
			var deployments int64
			require.NoError(t, db.Model(&store.Deployment{}).Count(&deployments).Error)
			require.Zero(t, deployments)
			require.ErrorIs(t, r.RemovePlatform(ctx, p.ID), store.ErrNotFound)

			require.NoError(t, r.RemoveConsumer(ctx, c.Key))
			_, err = r.Secret(ctx, "k1")
			require.Error(t, err)
			require.ErrorIs(t, r.RemoveConsumer(ctx, "k1"), store.ErrNotFound)
		})
	}
}
