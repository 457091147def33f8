package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/labhub/labhub/config"
	"github.com/labhub/labhub/doctor"
	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// doctorCmd checks a deployment with the same settings serve uses and says
// what to fix. It changes nothing: no migration, no key, no network.
func (a *app) doctorCmd() *cobra.Command {
	cfg := &config.Server{}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the deployment (Docker, network, images, hub address, public URL, TLS, LTI, clocks) and say what to fix",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Common = a.common
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			env := &doctor.Env{PublicURL: cfg.PublicURL, Network: cfg.Network, Image: cfg.Image}
			quiet := slog.New(slog.DiscardHandler)
			if db, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir, quiet); err == nil {
				defer db.Close()
				env.DB, env.Registry = db, registry.New(db, nil, nil)
			} else {
				fmt.Fprintf(cmd.ErrOrStderr(), "cannot open the database: %v\n", err)
			}
			if d, err := newDocker(cfg, quiet); err == nil {
				defer d.Close()
				env.Docker = d
				env.HubAPIURL = doctorHubURL(cmd, d, cfg)
			}
			results := doctor.Run(ctx, env)
			doctor.Format(cmd.OutOrStdout(), results)
			if doctor.Failed(results) {
				return errors.New("some checks failed")
			}
			return nil
		},
	}
	config.DeclareServer(a.bind(cmd.Flags()), cfg)
	return cmd
}

// doctorHubURL is the hub API address containers would use, found without
// changing anything: HUB_IP when set, else the network's gateway.
func doctorHubURL(cmd *cobra.Command, d *spawner.Docker, cfg *config.Server) string {
	host := cfg.HubIP
	if host == "" {
		n, err := d.InspectNetwork(cmd.Context(), cfg.Network)
		if err != nil || n.Gateway == "" {
			return ""
		}
		host = n.Gateway
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(cfg.HubPort)) + cfg.BasePath() + "hub/api"
}
