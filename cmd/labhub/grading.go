package main

import (
	"log/slog"

	"github.com/labhub/labhub/advantage"
	"github.com/labhub/labhub/config"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/grade"
	"github.com/labhub/labhub/handin"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
	"github.com/labhub/labhub/toolkey"
)

// newGrading builds the grade service, whose worker delivers grades to the
// LMSs, and the hand-in service.
func newGrading(cfg *config.Server, db *store.DB, reg *registry.Registry, tk *toolkey.Keys, docker *spawner.Docker,
	mgr *course.Manager, instance string, log *slog.Logger) (*grade.Service, *handin.Service) {
	g := grade.New(db, grade.Options{
		Platforms: reg, Secrets: reg,
		AGS:         &advantage.AGS{Tokens: &advantage.Tokens{Keys: tk}},
		Outcomes:    &lti.OutcomeClient{},
		Concurrency: cfg.Grades.Concurrency, RetryMin: cfg.Grades.RetryMin, RetryMax: cfg.Grades.RetryMax,
		Poll: cfg.Grades.Poll, Logger: log,
	})
	h := handin.New(db, handin.Options{
		Files: docker, Image: cfg.Image, HelperImage: mgr.HelperImage, Names: cfg.Names(),
		Instance: instance, VolumeOwner: cfg.NotebookOwner,
		NotebookDir: cfg.NotebookDir, MaxBytes: cfg.Grades.HandinMaxSize, MaxFiles: cfg.Grades.HandinMaxFiles,
		Logger: log,
	})
	return g, h
}
