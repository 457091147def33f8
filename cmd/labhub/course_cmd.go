package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"github.com/labhub/labhub/config"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/store"
)

// courseCmd manages courses from the command line: export and delete. It
// takes serve's settings and builds the course manager from them as serve
// does, so it finds the hub's own containers and volumes.
func (a *app) courseCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "course", Short: "Export or delete a course's data"}
	cfg := &config.Server{}
	var out string
	var yes bool
	withManager := func(cmd *cobra.Command, f func(ctx context.Context, m *course.Manager, c store.Course, admin store.User) error) error {
		cfg.Common = a.common
		if err := cfg.Validate(); err != nil {
			return err
		}
		return a.withState(cmd, func(ctx context.Context, _ *registry.Registry, db *store.DB) error {
			var c store.Course
			err := db.WithContext(ctx).Where("slug = ?", cmd.Flags().Arg(0)).First(&c).Error
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return fmt.Errorf("no course %q (use the short name from its page address)", cmd.Flags().Arg(0))
			}
			if err != nil {
				return fmt.Errorf("look up course %q: %w", cmd.Flags().Arg(0), err)
			}
			instance, err := instanceID(ctx, db)
			if err != nil {
				return err
			}
			d, err := newDocker(cfg, slog.Default())
			if err != nil {
				return err
			}
			defer d.Close()
			m := catalogManager(db, d, managerOptions(cfg, instance, "", slog.Default()))
			defer m.Wait()
			return f(ctx, m, c, store.User{Name: "labhub-cli"})
		})
	}
	export := &cobra.Command{
		Use:   "export COURSE",
		Short: "Write one archive per student (home folder and hand-ins) of COURSE into a directory",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withManager(cmd, func(ctx context.Context, m *course.Manager, c store.Course, actor store.User) error {
				if _, err := m.HelperImage(ctx, c); err != nil {
					return fmt.Errorf("%w (the course's files are read with its image or the site's default image: "+
						"give --image or LABHUB_IMAGE/DOCKER_SINGLEUSER_IMAGE as for serve, and pull it)", err)
				}
				if err := os.MkdirAll(out, 0o700); err != nil {
					return fmt.Errorf("create export directory: %w", err)
				}
				owners, err := m.HomeOwners(ctx, c)
				if err != nil {
					return err
				}
				for _, o := range owners {
					p := filepath.Join(out, o.UserName+".tar.gz")
					if err := exportStudent(ctx, m, c, o.UserName, p); err != nil {
						return err
					}
					fmt.Fprintln(cmd.OutOrStdout(), p)
				}
				m.Audit(ctx, actor, "course.export", &c, "", fmt.Sprintf("%d archives to %s", len(owners), out))
				return nil
			})
		},
	}
	export.Flags().StringVar(&out, "out", ".", "directory for the archives, named <username>.tar.gz as in the web page's export")
	del := &cobra.Command{
		Use:   "delete COURSE",
		Short: "Stop COURSE's servers and delete its home folders, files and records",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !yes {
				return errors.New("this deletes every student's files in the course; add --yes to go ahead")
			}
			return withManager(cmd, func(ctx context.Context, m *course.Manager, c store.Course, actor store.User) error {
				if err := m.DeleteCourse(ctx, actor, c); err != nil {
					return fmt.Errorf("delete course %s: %w", c.Slug, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "course %s deleted\n", c.Slug)
				return nil
			})
		},
	}
	del.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	for _, c := range []*cobra.Command{export, del} {
		// The server's settings say where volumes and images are.
		config.DeclareServer(a.bind(c.Flags()), cfg)
	}
	cmd.AddCommand(export, del)
	return cmd
}

// exportStudent writes user's archive of course c to path p, through a
// temporary file renamed into place on success, so that a failed export
// leaves no partial archive behind.
func exportStudent(ctx context.Context, m *course.Manager, c store.Course, user, p string) error {
	fh, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*")
	if err != nil {
		return fmt.Errorf("export %s: %w", user, err)
	}
	err = m.ExportStudent(ctx, c, user, fh)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(fh.Name(), p)
	}
	if err != nil {
		os.Remove(fh.Name())
		return fmt.Errorf("export %s: %w", user, err)
	}
	return nil
}
