package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gorm.io/gorm"

	"github.com/labhub/labhub/account"
	"github.com/labhub/labhub/auth"
	"github.com/labhub/labhub/config"
	"github.com/labhub/labhub/course"
	"github.com/labhub/labhub/migrations"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/store"
)

var timeNow = time.Now

func (a *app) migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the database schema (serve does this too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			db, err := store.Open(ctx, a.common.DatabaseURL, a.common.DataDir, nil)
			if err != nil {
				return err
			}
			defer db.Close()
			n, err := migrations.Run(ctx, db.DB, func(ctx context.Context) (string, error) {
				return db.Backup(ctx, timeNow())
			}, nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "applied %d migration(s); schema version %d\n", n, migrations.Latest())
			return nil
		},
	}
}

// withState runs f with the registry and database open.
func (a *app) withState(cmd *cobra.Command, f func(ctx context.Context, reg *registry.Registry, db *store.DB) error) error {
	ctx := cmd.Context()
	keys, db, err := a.openState(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	return f(ctx, registry.New(db, keys, nil), db)
}

func (a *app) lti11Cmd() *cobra.Command {
	cmd := &cobra.Command{Use: "lti11", Short: "Manage LTI 1.1 consumers (key and shared secret)"}
	var key, secret, name string
	add := &cobra.Command{
		Use:   "add-consumer",
		Short: "Add a consumer, or change the secret of an existing key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(key) == "" || secret == "" {
				return errors.New("a consumer needs a key and a secret (--secret, LABHUB_LTI11_SECRET or LTI_SHARED_SECRET)")
			}
			return a.withState(cmd, func(ctx context.Context, reg *registry.Registry, _ *store.DB) error {
				_, err := reg.Consumer(ctx, strings.TrimSpace(key))
				existed := err == nil
				c, err := reg.PutConsumer(ctx, key, secret, name)
				if err != nil {
					return err
				}
				if existed {
					fmt.Fprintf(cmd.OutOrStdout(), "consumer %s updated: its secret was replaced (id %d)\n", c.Key, c.ID)
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "consumer %s saved (id %d)\n", c.Key, c.ID)
				return nil
			})
		},
	}
	add.Flags().StringVar(&key, "key", "", "consumer key the LMS sends")
	config.DeclareConsumerSecret(a.bind(add.Flags()), &secret)
	add.Flags().StringVar(&name, "name", "", "a name for people")
	_ = add.MarkFlagRequired("key")
	list := &cobra.Command{
		Use: "list", Short: "List consumers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withState(cmd, func(ctx context.Context, reg *registry.Registry, _ *store.DB) error {
				cs, err := reg.Consumers(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 2, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tKEY\tNAME")
				for _, c := range cs {
					fmt.Fprintf(w, "%d\t%s\t%s\n", c.ID, c.Key, c.Name)
				}
				return w.Flush()
			})
		},
	}
	cmd.AddCommand(add, list, a.removeConsumerCmd())
	return cmd
}

func (a *app) lti13Cmd() *cobra.Command {
	cmd := &cobra.Command{Use: "lti13", Short: "Manage LTI 1.3 platforms"}
	var in registry.PlatformInput
	cfg := &config.Server{}
	add := &cobra.Command{
		Use:   "add-platform",
		Short: "Register a platform (issuer and client id), or add deployment ids to one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in.ByHand = true
			if err := in.Validate(); err != nil {
				return err
			}
			public, err := publicURL(cfg, a.common, "")
			if err != nil {
				return err
			}
			return a.withState(cmd, func(ctx context.Context, reg *registry.Registry, _ *store.DB) error {
				_, err := reg.Platform(ctx, in.Issuer, in.ClientID)
				existed := err == nil
				p, err := reg.PutPlatform(ctx, in)
				if err != nil {
					return err
				}
				var deps []string
				for _, d := range p.Deployments {
					deps = append(deps, d.DeploymentID)
				}
				verb := "saved"
				if existed {
					verb = "updated (its URLs replaced, deployment ids added)"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "platform %s client %s %s (id %d, deployments %s)\n",
					p.Issuer, p.ClientID, verb, p.ID, strings.Join(deps, ", "))
				fmt.Fprintf(cmd.OutOrStdout(), "its own login URL, for LMSs that send no client_id: %slti/login/%d\n",
					cmp.Or(public, "<public URL>/"), p.ID)
				return nil
			})
		},
	}
	f := add.Flags()
	f.StringVar(&in.Issuer, "issuer", "", "platform issuer (Moodle: its site URL)")
	f.StringVar(&in.ClientID, "client-id", "", "client id the platform gave Labhub")
	f.StringSliceVar(&in.Deployments, "deployment-id", nil, "deployment id (repeatable; required unless --unknown-deployments add)")
	f.StringVar(&in.AuthURL, "auth-url", "", "OIDC authorization endpoint (Moodle: <site>/mod/lti/auth.php)")
	f.StringVar(&in.TokenURL, "token-url", "", "OAuth 2 token endpoint (Moodle: <site>/mod/lti/token.php)")
	f.StringVar(&in.TokenAudience, "token-audience", "", "audience of token requests when it differs from the token URL")
	f.StringVar(&in.JWKSURL, "jwks-url", "", "platform public keyset URL (Moodle: <site>/mod/lti/certs.php)")
	f.StringVar(&in.Name, "name", "", "a name for people")
	f.StringSliceVar(&in.Origins, "origin", nil, "origin of the LMS's pages that frame Labhub (repeatable; default the issuer's)")
	f.StringVar(&in.DeploymentPolicy, "unknown-deployments", "", "what launches from unlisted deployment ids get: reject (default) or add")
	// The server's settings give the public URL for the login URL printed.
	config.DeclareServer(a.bind(f), cfg)
	for _, n := range []string{"issuer", "client-id", "auth-url", "token-url", "jwks-url"} {
		_ = add.MarkFlagRequired(n)
	}
	list := &cobra.Command{
		Use: "list", Short: "List platforms", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withState(cmd, func(ctx context.Context, reg *registry.Registry, _ *store.DB) error {
				ps, err := reg.Platforms(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 2, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tISSUER\tCLIENT ID\tDEPLOYMENTS\tUNKNOWN DEPLOYMENTS\tORIGINS")
				for _, p := range ps {
					var deps []string
					for _, d := range p.Deployments {
						deps = append(deps, d.DeploymentID)
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Issuer, p.ClientID, strings.Join(deps, ","),
						p.DeploymentPolicy, p.Origins)
				}
				return w.Flush()
			})
		},
	}
	cmd.AddCommand(append([]*cobra.Command{add, list, a.removePlatformCmd()}, a.lti13More()...)...)
	return cmd
}

func (a *app) userCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users"}
	var admin bool
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user (or make an existing one admin with --admin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := account.Normalize(args[0])
			if _, ok := course.NormalizeUsername(name); !ok {
				return fmt.Errorf("%q cannot be a username", args[0])
			}
			return a.withState(cmd, func(ctx context.Context, _ *registry.Registry, db *store.DB) error {
				var u store.User
				err := db.WithContext(ctx).Where("name = ?", name).First(&u).Error
				switch {
				case errors.Is(err, gorm.ErrRecordNotFound):
					// A new user follows the rule of accounts and sign-up;
					// existing ones (from LTI, say) may be made admins.
					if !account.ValidNewName(name) {
						return fmt.Errorf("%q cannot be a username: use letters, digits, \".\", \"_\", \"-\" and \"@\", "+
							"starting with a letter or digit", args[0])
					}
					u = store.User{Name: name}
					if err := db.WithContext(ctx).Create(&u).Error; err != nil {
						return fmt.Errorf("save user: %w", err)
					}
				case err != nil:
					return fmt.Errorf("look up user %q: %w", name, err)
				}
				if admin && !u.Admin {
					if err := db.WithContext(ctx).Model(&u).Update("admin", true).Error; err != nil {
						return fmt.Errorf("make admin: %w", err)
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s saved (admin: %v)\n", u.Name, admin || u.Admin)
				return nil
			})
		},
	}
	add.Flags().BoolVar(&admin, "admin", false, "make the user an administrator")
	cmd.AddCommand(add)
	return cmd
}

func (a *app) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API tokens for scripts and autograders"}
	var note string
	var scopes []string
	var expires time.Duration
	create := &cobra.Command{
		Use:   "create USER",
		Short: "Create an API token that acts as USER and print it (it is shown once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if expires < 0 {
				return fmt.Errorf("--expires-in %s: give a positive lifetime such as 720h, or 0 for a token that never expires", expires)
			}
			for _, s := range scopes {
				if err := auth.ValidateScope(s); err != nil {
					return fmt.Errorf("--scope: %w", err)
				}
			}
			return a.withState(cmd, func(ctx context.Context, _ *registry.Registry, db *store.DB) error {
				var u store.User
				err := db.WithContext(ctx).Where("name = ?", strings.ToLower(strings.TrimSpace(args[0]))).First(&u).Error
				if errors.Is(err, gorm.ErrRecordNotFound) {
					return fmt.Errorf("no user %q (users appear at their first launch or login, or with labhub user add)", args[0])
				}
				if err != nil {
					return fmt.Errorf("look up user %q: %w", args[0], err)
				}
				t := store.Token{Kind: store.TokenAPI, UserID: u.ID, Note: note, Scopes: auth.EncodeScopes(scopes)}
				if expires > 0 {
					exp := timeNow().UTC().Add(expires)
					t.ExpiresAt = &exp
				}
				v, err := auth.New(db, nil, nil).IssueToken(ctx, nil, t)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), v)
				return nil
			})
		},
	}
	create.Flags().StringVar(&note, "note", "", "what the token is for")
	create.Flags().StringSliceVar(&scopes, "scope", nil, "limit the token to these scopes (repeatable): "+
		strings.Join(auth.KnownScopes, ", ")+", optionally filtered with !user=NAME or !server=OWNER/NAME; none means all of the user's rights")
	create.Flags().DurationVar(&expires, "expires-in", 0, "lifetime such as 720h; 0 (the default) means the token never expires")
	cmd.AddCommand(create)
	return cmd
}

// settingsCmd prints the configuration reference.
func (a *app) settingsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "settings",
		Short: "Print every setting with its flag, environment variables and default (Markdown)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprint(cmd.OutOrStdout(), config.Markdown(allSettings()))
			return nil
		},
	}
}

// allSettings declares every setting on a scratch flag set and returns the
// declarations.
func allSettings() []config.Setting {
	var cfg config.Server
	s := config.NewSet(pflag.NewFlagSet("settings", pflag.ContinueOnError))
	config.DeclareCommon(s, &cfg.Common)
	config.DeclareServer(s, &cfg)
	var secret string
	config.DeclareConsumerSecret(s, &secret)
	return s.Settings()
}
