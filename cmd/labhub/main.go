// Command labhub runs Labhub, the LMS-first Jupyter hub, and manages its
// registrations, images and users.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/labhub/labhub/config"
	"github.com/labhub/labhub/migrations"
	"github.com/labhub/labhub/seal"
	"github.com/labhub/labhub/store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "labhub:", err)
		os.Exit(1)
	}
}

// app carries what the subcommands share.
type app struct {
	common config.Common
	sets   []*config.Set
	// notices, when set, hears that a command created a new data
	// directory, so that a mistyped --data-dir is noticed. serve, demo and
	// migrate create one as a matter of course and leave it nil.
	notices io.Writer
}

func newRoot() *cobra.Command {
	a := &app{}
	root := &cobra.Command{
		Use:           "labhub",
		Short:         "Labhub runs students' Jupyter servers for courses in an LMS",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	common := config.NewSet(root.PersistentFlags())
	config.DeclareCommon(common, &a.common)
	a.sets = append(a.sets, common)
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		for _, s := range a.sets {
			if err := s.ApplyEnv(nil); err != nil {
				return err
			}
		}
		switch cmd.Name() {
		case "serve", "demo", "migrate":
		default:
			a.notices = cmd.ErrOrStderr()
		}
		if err := setupLogging(a.common); err != nil {
			return err
		}
		for _, s := range a.sets {
			for _, w := range s.Warnings() {
				slog.Warn("ignored old environment variable", "env", w.Env, "value", w.Value, "error", w.Err)
			}
		}
		return nil
	}
	root.AddCommand(a.serveCmd(false), a.serveCmd(true), a.migrateCmd(), a.lti11Cmd(), a.lti13Cmd(),
		a.imageCmd(), a.courseCmd(), a.userCmd(), a.tokenCmd(), a.accountCmd(), a.toolkeyCmd(), a.doctorCmd(),
		a.settingsCmd())
	root.AddCommand(a.gradeCmd())
	return root
}

// bind declares settings on a command's flags and remembers them for
// environment lookup.
func (a *app) bind(fs *pflag.FlagSet) *config.Set {
	s := config.NewSet(fs)
	a.sets = append(a.sets, s)
	return s
}

func setupLogging(c config.Common) error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("log level %q: use debug, info, warn or error", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	switch strings.ToLower(c.LogFormat) {
	case "json":
		h = slog.NewJSONHandler(os.Stderr, opts)
	case "text", "":
		h = slog.NewTextHandler(os.Stderr, opts)
	default:
		return fmt.Errorf("log format %q: use text or json", c.LogFormat)
	}
	slog.SetDefault(slog.New(h))
	return nil
}

// openState opens the database and the keyring and brings the schema up to
// date. The database comes first, so that one that cannot be reached
// leaves no new secret key behind.
func (a *app) openState(ctx context.Context) (*seal.Keyring, *store.DB, error) {
	_, statErr := os.Stat(a.common.DataDir)
	db, err := store.Open(ctx, a.common.DatabaseURL, a.common.DataDir, slog.Default())
	if err != nil {
		return nil, nil, err
	}
	keys, created, err := seal.LoadOrCreate(a.common.SecretKey, a.common.DataDir)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	if _, err := os.Stat(a.common.DataDir); err == nil && errors.Is(statErr, fs.ErrNotExist) && a.notices != nil {
		path, _ := filepath.Abs(a.common.DataDir)
		fmt.Fprintf(a.notices, "created a new data directory at %s\n", path)
	}
	if created {
		slog.Warn("generated a secret key; keep it safe or set LABHUB_SECRET_KEY",
			"path", a.common.DataDir+"/secret.key")
	}
	if _, err := migrations.Run(ctx, db.DB, func(ctx context.Context) (string, error) {
		return db.Backup(ctx, timeNow())
	}, slog.Default()); err != nil {
		db.Close()
		return nil, nil, err
	}
	return keys, db, nil
}
