package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gorm.io/gorm"

	"github.com/labhub/labhub/grade"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/store"
)

// gradeCmd is `labhub grade`: grades of activities from the command line.
// It writes to the database; a running hub picks the grades up and sends
// them to the LMS.
func (a *app) gradeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "grade", Short: "Give, list, import and export grades; a running hub sends them to the LMS"}

	activities := &cobra.Command{
		Use: "activities COURSE", Short: "List a course's activities and their ids", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withGrades(cmd, func(ctx context.Context, db *store.DB, g *grade.Service) error {
				c, err := loadCourse(ctx, db, args[0])
				if err != nil {
					return err
				}
				var acts []store.Activity
				if err := db.WithContext(ctx).Where("course_id = ?", c.ID).Order("id").Find(&acts).Error; err != nil {
					return fmt.Errorf("list activities: %w", err)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 2, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tTITLE\tRESOURCE LINK\tDUE\tMAXIMUM")
				for _, act := range acts {
					as, err := g.Assignment(ctx, act.ID)
					if err != nil {
						return err
					}
					due := "-"
					if as.DueAt != nil {
						due = as.DueAt.UTC().Format("2006-01-02 15:04 UTC")
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", act.ID, act.Title, act.ResourceLinkID, due,
						grade.FormatScore(as.ScoreMaximum))
				}
				return w.Flush()
			})
		},
	}

	list := &cobra.Command{
		Use: "list COURSE ACTIVITY", Short: "List an activity's students, grades and delivery states", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withActivity(cmd, args, func(ctx context.Context, _ *store.DB, g *grade.Service, _ store.Course,
				act store.Activity) error {
				rows, err := g.Roster(ctx, act)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 2, 2, ' ', 0)
				fmt.Fprintln(w, "USER\tSCORE\tMAXIMUM\tHAND-INS\tSTATUS\tDETAIL")
				for _, r := range rows {
					score, max := "-", "-"
					if r.Grade != nil {
						if r.Grade.Score != nil {
							score = grade.FormatScore(*r.Grade.Score)
						}
						max = grade.FormatScore(r.Grade.Maximum)
					}
					st := grade.Describe(r.Grade, r.Delivery)
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\n", r.User.Name, score, max, r.Handins, st.State,
						strings.ReplaceAll(st.Detail, "\n", " "))
				}
				return w.Flush()
			})
		},
	}

	var maximum float64
	var comment string
	var clearGrade bool
	set := &cobra.Command{
		Use:   "set COURSE ACTIVITY USER [SCORE]",
		Short: "Give USER a score (or --clear the grade)",
		Args:  cobra.RangeArgs(3, 4),
		RunE: func(cmd *cobra.Command, args []string) error {
			var e grade.Entry
			switch {
			case clearGrade && len(args) == 3:
			case !clearGrade && len(args) == 4:
				v, err := strconv.ParseFloat(args[3], 64)
				if err != nil {
					return fmt.Errorf("score %q is not a number", args[3])
				}
				e.Score = &v
			default:
				return errors.New("give a SCORE, or --clear without one")
			}
			if cmd.Flags().Changed("maximum") {
				// Without --maximum the grade keeps its maximum; a typed 0
				// is a mistake, not a request to keep it.
				if err := grade.CheckMaximum(maximum); err != nil {
					return fmt.Errorf("--maximum %s: %w", strconv.FormatFloat(maximum, 'f', -1, 64), err)
				}
			}
			e.Maximum, e.Comment = maximum, comment
			e.KeepComment = !cmd.Flags().Changed("comment")
			return a.withActivity(cmd, args[:2], func(ctx context.Context, db *store.DB, g *grade.Service,
				c store.Course, act store.Activity) error {
				users, err := members(ctx, db, c)
				if err != nil {
					return err
				}
				id, ok := users[strings.ToLower(args[2])]
				if !ok {
					return fmt.Errorf("%s is not in course %s", args[2], c.Slug)
				}
				e.UserID = id
				ch, err := g.Set(ctx, act.ID, []grade.Entry{e}, "cli", "labhub-cli")
				if err != nil {
					return err
				}
				if ch[0].Changed {
					fmt.Fprintf(cmd.OutOrStdout(), "grade of %s saved (version %d); a running hub sends it to the LMS\n",
						args[2], ch[0].Version)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "grade of %s unchanged\n", args[2])
				}
				return nil
			})
		},
	}
	set.Flags().Float64Var(&maximum, "maximum", 0, "maximum score, positive; without it the grade's is kept (the activity's for a new grade)")
	set.Flags().StringVar(&comment, "comment", "", "comment shown to the student in the LMS; without it the grade's comment is kept")
	set.Flags().BoolVar(&clearGrade, "clear", false, "clear the grade instead of setting one")

	importCmd := &cobra.Command{
		Use:   "import COURSE ACTIVITY FILE",
		Short: "Import grades from a CSV file (columns username, score[, maximum, comment]; - reads standard input)",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in io.Reader = cmd.InOrStdin()
			if args[2] != "-" {
				f, err := os.Open(args[2])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			return a.withActivity(cmd, args[:2], func(ctx context.Context, db *store.DB, g *grade.Service,
				c store.Course, act store.Activity) error {
				users, err := members(ctx, db, c)
				if err != nil {
					return err
				}
				entries, err := grade.ParseCSV(in, users)
				if err != nil {
					return err
				}
				ch, err := g.Set(ctx, act.ID, entries, "csv", "labhub-cli")
				if err != nil {
					return err
				}
				n := 0
				for _, c := range ch {
					if c.Changed {
						n++
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d row(s) read, %d grade(s) changed; a running hub sends them to the LMS\n",
					len(entries), n)
				return nil
			})
		},
	}

	export := &cobra.Command{
		Use: "export COURSE ACTIVITY [FILE]", Short: "Export the activity's grades as CSV (to standard output without FILE)",
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withActivity(cmd, args[:2], func(ctx context.Context, _ *store.DB, g *grade.Service, _ store.Course,
				act store.Activity) error {
				if len(args) == 2 {
					return g.ExportCSV(ctx, act, cmd.OutOrStdout())
				}
				f, err := os.Create(args[2])
				if err != nil {
					return err
				}
				if err := g.ExportCSV(ctx, act, f); err != nil {
					f.Close()
					return err
				}
				return f.Close()
			})
		},
	}

	retry := &cobra.Command{
		Use:   "retry COURSE ACTIVITY [USER...]",
		Short: "Send grades again: the users', or every grade the LMS did not accept",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withActivity(cmd, args[:2], func(ctx context.Context, db *store.DB, g *grade.Service,
				c store.Course, act store.Activity) error {
				users, err := members(ctx, db, c)
				if err != nil {
					return err
				}
				var ids []uint
				for _, name := range args[2:] {
					id, ok := users[strings.ToLower(name)]
					if !ok {
						return fmt.Errorf("%s is not in course %s", name, c.Slug)
					}
					ids = append(ids, id)
				}
				n, err := g.Retry(ctx, act.ID, ids)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d grade(s) queued again\n", n)
				return nil
			})
		},
	}
	cmd.AddCommand(activities, list, set, importCmd, export, retry)
	return cmd
}

// withGrades runs f with the database and a grade service that only writes
// (the running hub delivers).
func (a *app) withGrades(cmd *cobra.Command, f func(ctx context.Context, db *store.DB, g *grade.Service) error) error {
	return a.withState(cmd, func(ctx context.Context, _ *registry.Registry, db *store.DB) error {
		return f(ctx, db, grade.New(db, grade.Options{}))
	})
}

// withActivity runs f with the course and activity named by args[0] (slug)
// and args[1] (activity id).
func (a *app) withActivity(cmd *cobra.Command, args []string, f func(ctx context.Context, db *store.DB,
	g *grade.Service, c store.Course, act store.Activity) error) error {
	return a.withGrades(cmd, func(ctx context.Context, db *store.DB, g *grade.Service) error {
		c, err := loadCourse(ctx, db, args[0])
		if err != nil {
			return err
		}
		id, err := strconv.ParseUint(args[1], 10, 64)
		if err != nil {
			return fmt.Errorf("activity %q: give its id (see labhub grade activities %s)", args[1], c.Slug)
		}
		var act store.Activity
		err = db.WithContext(ctx).Where("id = ? AND course_id = ?", id, c.ID).First(&act).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return fmt.Errorf("course %s has no activity %d (see labhub grade activities %s)", c.Slug, id, c.Slug)
		}
		if err != nil {
			return fmt.Errorf("load activity: %w", err)
		}
		return f(ctx, db, g, c, act)
	})
}

func loadCourse(ctx context.Context, db *store.DB, slug string) (store.Course, error) {
	var c store.Course
	err := db.WithContext(ctx).Where("slug = ?", slug).First(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return c, fmt.Errorf("no course %q", slug)
	}
	if err != nil {
		return c, fmt.Errorf("load course: %w", err)
	}
	return c, nil
}

// members maps the usernames of a course's members to their ids.
func members(ctx context.Context, db *store.DB, c store.Course) (map[string]uint, error) {
	var rows []struct {
		ID   uint
		Name string
	}
	err := db.WithContext(ctx).Table("users").Select("users.id, users.name").
		Joins("JOIN enrollments ON enrollments.user_id = users.id").
		Where("enrollments.course_id = ?", c.ID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("load course members: %w", err)
	}
	out := make(map[string]uint, len(rows))
	for _, r := range rows {
		out[r.Name] = r.ID
	}
	return out, nil
}
