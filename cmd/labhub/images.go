package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/config"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// catalogManager is a course manager for catalog changes, which touch only
// the database; d may be nil when the command needs no engine.
func catalogManager(db *store.DB, d course.Docker, opts course.Options) *course.Manager {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return course.NewManager(db, auth.New(db, nil, nil), d, nopRoutes{}, opts)
}

func (a *app) imageCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Manage the image catalog"}
	var desc, memDefault, memMax string
	var cpuDefault, cpuMax string
	add := &cobra.Command{
		Use:   "add NAME REF",
		Short: "Add an image to the catalog, or change an entry (only the options given change)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Parse and check what was given before opening the state.
			fl := cmd.Flags()
			given := course.ImageInput{Name: args[0], Ref: args[1], Description: desc}
			for _, m := range []struct {
				flag string
				val  string
				dst  *int64
			}{{"mem-default", memDefault, &given.MemDefault}, {"mem-max", memMax, &given.MemMax}} {
				if !fl.Changed(m.flag) {
					continue
				}
				n, err := config.ParseBytes(m.val)
				if err != nil {
					return fmt.Errorf("--%s: %w", m.flag, err)
				}
				*m.dst = n
			}
			for _, c := range []struct {
				flag, val string
				dst       *int64
			}{{"cpu-default", cpuDefault, &given.CPUDefault}, {"cpu-max", cpuMax, &given.CPUMax}} {
				if !fl.Changed(c.flag) {
					continue
				}
				n, err := config.ParseCores(c.val)
				if err != nil {
					return fmt.Errorf("--%s: %w", c.flag, err)
				}
				*c.dst = n
			}
			if err := (&course.ImageInput{Name: given.Name, Ref: given.Ref, Description: given.Description}).Validate(); err != nil {
				return err
			}
			return a.withState(cmd, func(ctx context.Context, _ *registry.Registry, db *store.DB) error {
				in := course.ImageInput{Name: given.Name, Ref: given.Ref}
				if old, err := catalogManager(db, nil, course.Options{}).LookupImage(ctx, args[0]); err == nil {
					in.Description, in.MemDefault, in.MemMax = old.Description, old.MemDefault, old.MemMax
					in.CPUDefault, in.CPUMax = old.CPUDefault, old.CPUMax
				}
				// Only the options given change an existing entry.
				for _, o := range []struct {
					flag     string
					src, dst *int64
				}{{"mem-default", &given.MemDefault, &in.MemDefault}, {"mem-max", &given.MemMax, &in.MemMax},
					{"cpu-default", &given.CPUDefault, &in.CPUDefault}, {"cpu-max", &given.CPUMax, &in.CPUMax}} {
					if fl.Changed(o.flag) {
						*o.dst = *o.src
					}
				}
				if fl.Changed("description") {
					in.Description = desc
				}
				img, err := catalogManager(db, nil, course.Options{}).PutImage(ctx, in)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "image %s -> %s saved\n", img.Name, img.Ref)
				return nil
			})
		},
	}
	f := add.Flags()
	f.StringVar(&desc, "description", "", "what the image is for")
	f.StringVar(&memDefault, "mem-default", "", "memory a course's servers get unless its instructor chooses (0 for the site's --mem-limit)")
	f.StringVar(&memMax, "mem-max", "", "most memory an instructor may choose (0 for the site's --mem-limit)")
	f.StringVar(&cpuDefault, "cpu-default", "0", "CPU cores a course's servers get unless its instructor chooses (0 for the site's --cpu-limit)")
	f.StringVar(&cpuMax, "cpu-max", "0", "most CPU cores an instructor may choose (0 for the site's --cpu-limit)")
	list := &cobra.Command{
		Use: "list", Short: "List the catalog and whether the Docker engine has each image", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withState(cmd, func(ctx context.Context, _ *registry.Registry, db *store.DB) error {
				var imgs []store.Image
				if err := db.WithContext(ctx).Order("name").Find(&imgs).Error; err != nil {
					return fmt.Errorf("list images: %w", err)
				}
				d, derr := spawner.New(spawner.Options{Logger: slog.New(slog.DiscardHandler)})
				if derr == nil {
					defer d.Close()
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 2, 2, ' ', 0)
				fmt.Fprintln(w, "NAME\tREF\tPRESENT\tMEMORY\tCPU\tDESCRIPTION")
				for _, i := range imgs {
					present := "?"
					if derr == nil {
						if ok, err := d.ImagePresent(ctx, i.Ref); err == nil {
							present = strconv.FormatBool(ok)
						}
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s/%s\t%s/%s\t%s\n", i.Name, i.Ref, present,
						course.FormatBytes(i.MemDefault), course.FormatBytes(i.MemMax),
						course.FormatCPU(i.CPUDefault), course.FormatCPU(i.CPUMax), i.Description)
				}
				return w.Flush()
			})
		},
	}
	remove := &cobra.Command{
		Use: "remove NAME", Short: "Remove an image from the catalog (not while a course uses it)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withState(cmd, func(ctx context.Context, _ *registry.Registry, db *store.DB) error {
				err := catalogManager(db, nil, course.Options{}).DeleteImage(ctx, args[0])
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("the catalog has no image %q (see labhub image list)", args[0])
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "image %s removed\n", course.ImageName(args[0]))
				return nil
			})
		},
	}
	pull := &cobra.Command{
		Use: "pull NAME", Short: "Pull a catalog image onto the Docker engine, showing progress", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withState(cmd, func(ctx context.Context, _ *registry.Registry, db *store.DB) error {
				img, err := catalogManager(db, nil, course.Options{}).LookupImage(ctx, args[0])
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("the catalog has no image %q (see labhub image list)", args[0])
				}
				if err != nil {
					return err
				}
				d, err := spawner.New(spawner.Options{Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					return err
				}
				defer d.Close()
				last := -1
				err = d.Pull(ctx, img.Ref, func(p spawner.PullProgress) {
					if pc := p.Percent(); pc/10 != last/10 {
						last = pc
						fmt.Fprintf(cmd.OutOrStdout(), "%3d%% (%d of %d layers)\n", pc, p.LayersDone, p.Layers)
					}
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "image %s pulled\n", img.Ref)
				return nil
			})
		},
	}
	cmd.AddCommand(add, list, remove, pull)
	return cmd
}

// nopRoutes is a route table for commands that publish no routes.
type nopRoutes struct{}

func (nopRoutes) Set(string, string, *url.URL, string)          {}
func (nopRoutes) Delete(string, string)                         {}
func (nopRoutes) LastActivity(string, string) (time.Time, bool) { return time.Time{}, false }
