package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/labhub/labhub/config"
	"github.com/labhub/labhub/lti"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/store"
	"github.com/labhub/labhub/toolkey"
	"github.com/labhub/labhub/web"
)

// lti13More returns the lti13 subcommands beyond add-platform and list.
func (a *app) lti13More() []*cobra.Command {
	var expires time.Duration
	var note string
	cfg := &config.Server{}
	invite := &cobra.Command{
		Use:   "invite [PUBLIC-URL]",
		Short: "Create a dynamic registration URL for an LMS (valid once; printed once)",
		Long: "Create an invite for LTI dynamic registration and print the registration URL to paste into the\n" +
			"LMS (Moodle: Manage tools → Tool URL → Add LTI Advantage). Its address starts with Labhub's public\n" +
			"URL: PUBLIC-URL, else the one serve's settings give (--public-url, LABHUB_PUBLIC_URL, HOST_NAME);\n" +
			"with neither, a placeholder is printed in its place.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if expires <= 0 {
				return fmt.Errorf("--expires-in %s: give a positive lifetime such as 168h", expires)
			}
			public, err := publicURL(cfg, a.common, strings.Join(args, ""))
			if err != nil {
				return err
			}
			if public == "" {
				public = "<public URL>/"
				fmt.Fprintln(cmd.ErrOrStderr(), "no public URL is set: give it as an argument, --public-url or LABHUB_PUBLIC_URL")
			}
			return a.withState(cmd, func(ctx context.Context, reg *registry.Registry, _ *store.DB) error {
				tok, inv, err := reg.CreateInvite(ctx, expires, note)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), web.RegistrationURL(public, tok))
				fmt.Fprintf(cmd.ErrOrStderr(), "valid until %s, for one registration\n",
					inv.ExpiresAt.Local().Format(time.RFC3339))
				return nil
			})
		},
	}
	invite.Flags().DurationVar(&expires, "expires-in", 7*24*time.Hour, "how long the URL works")
	invite.Flags().StringVar(&note, "note", "", "what the invite is for")
	config.DeclareServer(a.bind(invite.Flags()), cfg)

	var policy string
	var origins, deployments []string
	update := &cobra.Command{
		Use:   "update ID",
		Short: "Change a platform: its policy for unknown deployment ids, the LMS origins that may frame Labhub, or add deployment ids",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("platform id %q: use the ID column of labhub lti13 list", args[0])
			}
			fl := cmd.Flags()
			if !fl.Changed("unknown-deployments") && !fl.Changed("origin") && !fl.Changed("deployment-id") {
				return errors.New("nothing to change: give --unknown-deployments, --origin or --deployment-id")
			}
			if policy != "" && policy != registry.PolicyReject && policy != registry.PolicyAdd {
				return fmt.Errorf("--unknown-deployments %q: use %s or %s", policy, registry.PolicyReject, registry.PolicyAdd)
			}
			return a.withState(cmd, func(ctx context.Context, reg *registry.Registry, _ *store.DB) error {
				if _, err := reg.PlatformByID(ctx, args[0]); errors.Is(err, lti.ErrUnknownPlatform) {
					return fmt.Errorf("no LTI 1.3 platform with id %d (see labhub lti13 list)", id)
				} else if err != nil {
					return err
				}
				if policy != "" {
					if err := reg.SetDeploymentPolicy(ctx, uint(id), policy); err != nil {
						return err
					}
				}
				if cmd.Flags().Changed("origin") {
					if err := reg.SetOrigins(ctx, uint(id), origins); err != nil {
						return err
					}
				}
				for _, d := range deployments {
					if err := reg.AddDeployment(ctx, uint(id), d); err != nil {
						return err
					}
				}
				fmt.Fprintf(cmd.OutOrStdout(), "platform %d updated\n", id)
				return nil
			})
		},
	}
	update.Flags().StringVar(&policy, "unknown-deployments", "", "reject (default for new platforms) or add")
	update.Flags().StringSliceVar(&origins, "origin", nil, "origin of the LMS's pages (repeatable; replaces the list)")
	update.Flags().StringSliceVar(&deployments, "deployment-id", nil, "deployment id to add (repeatable)")
	return []*cobra.Command{invite, update}
}

// toolkeyCmd manages the tool's signing keys.
func (a *app) toolkeyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "toolkey", Short: "Manage Labhub's own signing keys (published at /lti/jwks)"}
	withKeys := func(cmd *cobra.Command, f func(ctx context.Context, k *toolkey.Keys) error) error {
		ctx := cmd.Context()
		keys, db, err := a.openState(ctx)
		if err != nil {
			return err
		}
		defer db.Close()
		k := toolkey.New(db, keys, nil)
		if err := k.Ensure(ctx); err != nil {
			return err
		}
		return f(ctx, k)
	}
	list := &cobra.Command{
		Use: "list", Short: "List the published keys", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withKeys(cmd, func(ctx context.Context, k *toolkey.Keys) error {
				infos, err := k.List(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 2, 2, ' ', 0)
				fmt.Fprintln(w, "KID\tSTATE\tCREATED\tSIGNING SINCE\tRETIRED")
				for _, i := range infos {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", i.KID, i.State, i.CreatedAt.Format(time.RFC3339),
						timeOrDash(i.ActivatedAt), timeOrDash(i.RetiredAt))
				}
				return w.Flush()
			})
		},
	}
	var force bool
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Let the next key sign, retire the current one and publish a new next key",
		Long: "Rotate the tool keys. The next key has been published since the last rotation, so platforms\n" +
			"already know it; the retired key stays published for an hour. A running Labhub picks the\n" +
			"rotation up within a minute.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withKeys(cmd, func(ctx context.Context, k *toolkey.Keys) error {
				kid, err := k.Rotate(ctx, force)
				var tooSoon *toolkey.TooSoonError
				if errors.As(err, &tooSoon) {
					return fmt.Errorf("%w (--force)", err)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "key %s signs from now on\n", kid)
				return nil
			})
		},
	}
	rotate.Flags().BoolVar(&force, "force", false, "rotate even if the next key was published less than ten minutes ago")
	cmd.AddCommand(list, rotate)
	return cmd
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
