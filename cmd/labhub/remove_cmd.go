package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/labhub/labhub/registry"
	"github.com/labhub/labhub/store"
)

// removeNote is what removing a registration keeps and what registering
// the LMS again would do.
const removeNote = "Launches from it are refused from then on. Its courses, users, their files and grades stay.\n" +
	"Registering the LMS again later makes new courses and users for it; to change a registration's\n" +
	"URLs or secret, add it again with the same key or issuer and client id instead of removing it.\n" +
	"A registration whose courses still have grades on their way to the LMS is kept."

// removePlatformCmd is "labhub lti13 remove ID --yes".
func (a *app) removePlatformCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove an LTI 1.3 platform (see labhub lti13 list)",
		Long:  "Remove the LTI 1.3 platform with ID and its deployment ids. " + removeNote,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseUint(args[0], 10, 32)
			if err != nil {
				return fmt.Errorf("platform id %q is not a number (see labhub lti13 list)", args[0])
			}
			if !yes {
				return errors.New("removing a platform refuses its launches; add --yes to do it")
			}
			return a.withState(cmd, func(ctx context.Context, reg *registry.Registry, _ *store.DB) error {
				if err := reg.RemovePlatform(ctx, uint(id)); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "platform %d removed\n", id)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "really remove it")
	return cmd
}

// removeConsumerCmd is "labhub lti11 remove KEY --yes".
func (a *app) removeConsumerCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "remove KEY",
		Short: "Remove an LTI 1.1 consumer (see labhub lti11 list)",
		Long:  "Remove the LTI 1.1 consumer with KEY. " + removeNote,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return errors.New("removing a consumer refuses its launches; add --yes to do it")
			}
			return a.withState(cmd, func(ctx context.Context, reg *registry.Registry, _ *store.DB) error {
				if err := reg.RemoveConsumer(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "consumer %s removed\n", args[0])
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "really remove it")
	return cmd
}
