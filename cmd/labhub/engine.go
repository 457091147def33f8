package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"

	"github.com/labhub/labhub/config"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// instanceID returns the random id of this installation, which labels its
// containers and volumes, made on first use by whichever command needs it
// first.
func instanceID(ctx context.Context, db *store.DB) (string, error) {
	id, err := db.GetOrInit(ctx, "instance_id", func() string {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	})
	if err != nil {
		return "", fmt.Errorf("read instance id: %w", err)
	}
	return id, nil
}

// newDocker connects to the Docker engine with the options the settings in
// cfg give; serve and every command that touches containers or volumes use
// it, so that they all see the same objects.
func newDocker(cfg *config.Server, log *slog.Logger) (*spawner.Docker, error) {
	d, err := spawner.New(spawner.Options{Network: cfg.Network, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("connect to docker (is the engine running and the socket reachable?): %w", err)
	}
	return d, nil
}

// managerOptions returns the course manager's options from the settings in
// cfg. hubAPI is the hub API address containers use; commands that start no
// servers pass "".
func managerOptions(cfg *config.Server, instance, hubAPI string, log *slog.Logger) course.Options {
	return course.Options{
		Base: cfg.BasePath(), PublicURL: cfg.PublicURL, HubAPIURL: hubAPI, Network: cfg.Network, Instance: instance,
		DefaultImage: cfg.Image, NotebookDir: cfg.NotebookDir, VolumeOwner: cfg.NotebookOwner,
		SiteSharedVolume: cfg.SiteSharedVol, Names: cfg.Names(), MemLimit: cfg.MemLimit, NanoCPUs: int64(cfg.CPULimit * 1e9),
		PidsLimit: int64(cfg.PidsLimit), SpawnTimeout: cfg.SpawnTimeout, SpawnConcurrency: cfg.SpawnLimit,
		IdleTimeout: cfg.IdleTimeout, OrphanGrace: cfg.OrphanGrace, DefaultURL: cfg.DefaultURL,
		CompatVersion: cfg.CompatVersion, Logger: log, AllowOutside: cfg.Environment.AllowOutside,
	}
}
