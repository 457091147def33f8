package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/labhub/labhub/account"
	"github.com/labhub/labhub/config"
	"github.com/labhub/labhub/ldapauth"
	"github.com/labhub/labhub/seal"
	"github.com/labhub/labhub/store"
)

// newAccounts builds the account service from the settings: native
// accounts and LDAP as AUTH_MODE says, the userlist and the blocked names.
// The userlist's administrators are made administrators at once.
func newAccounts(ctx context.Context, c *config.AccountSettings, db *store.DB, keys *seal.Keyring, log *slog.Logger) (*account.Service, error) {
	ul, err := account.LoadUserlist(c.Userlist)
	if err != nil {
		return nil, err
	}
	o := account.Options{
		Native:   c.Native,
		Signup:   account.SignupMode(c.Signup),
		Password: account.PasswordPolicy{MinLength: c.PasswordMinLen, MinScore: c.PasswordScore},
		Throttle: account.ThrottleOptions{AccountFailures: c.MaxFailures, AddressFailures: c.MaxAddrFailures, Lockout: c.Lockout},
		Policy:   &account.Policy{Userlist: ul, Blocked: account.ParseNames(c.Blocked)},
		Link:     account.LinkRule(c.Link),
		Logger:   log,
	}
	if c.LDAP {
		dir, err := ldapauth.New(ldapauth.Config{
			Address: c.LDAPAddress, Port: c.LDAPPort, TLS: c.LDAPTLS, CAFile: c.LDAPCAFile,
			BindDNTemplates: c.BindTemplates(), LookupDN: c.LDAPLookupDN,
			SearchUser: c.LDAPSearchUser, SearchPassword: c.LDAPSearchPass,
			UserSearchBase: c.LDAPSearchBase, UserAttribute: c.LDAPUserAttr, LookupFilter: c.LDAPLookupFilter,
			UsernameAttribute: c.LDAPUsernameAttr, SearchFilter: c.LDAPSearchFilter,
			AllowedGroups: c.AllowedGroups(), ValidUsername: regexp.MustCompile(c.LDAPUsernameRegex),
			EmailAttribute: c.LDAPEmailAttr,
		})
		if err != nil {
			return nil, err
		}
		o.LDAP = dir
	}
	s := account.New(db, keys, o)
	if err := s.ApplyAdmins(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// accountCmd manages native accounts from the command line; it is how the
// first administrator gets a password.
func (a *app) accountCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "Manage native Labhub accounts (password logins)"}
	var admin bool
	var email string
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Create an approved account (password from LABHUB_PASSWORD or standard input)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !account.ValidNewName(account.Normalize(args[0])) {
				return fmt.Errorf("%q cannot be a username", account.Normalize(args[0]))
			}
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			return a.withAccounts(cmd, func(ctx context.Context, s *account.Service) error {
				acc, err := s.CreateAccount(ctx, args[0], pw, email, admin)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "account %s created (admin: %v)\n", acc.Username, admin)
				return nil
			})
		},
	}
	add.Flags().BoolVar(&admin, "admin", false, "make the user an administrator")
	add.Flags().StringVar(&email, "email", "", "email address")
	reset := &cobra.Command{
		Use:   "reset-password NAME",
		Short: "Set a new password (from LABHUB_PASSWORD or standard input) and lift a lockout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withAccounts(cmd, func(ctx context.Context, s *account.Service) error {
				// Say that the account does not exist before asking for a
				// password for it.
				if _, err := s.AccountByName(ctx, args[0]); err != nil {
					return accountError(args[0], err)
				}
				pw, err := readPassword(cmd)
				if err != nil {
					return err
				}
				if err := s.ResetPassword(ctx, args[0], pw, pw); err != nil {
					return accountError(args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "password of %s reset\n", account.Normalize(args[0]))
				return nil
			})
		},
	}
	approve := &cobra.Command{
		Use: "approve NAME", Short: "Let an account that signed up log in", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withAccounts(cmd, func(ctx context.Context, s *account.Service) error {
				acc, err := s.Approve(ctx, args[0])
				if err != nil {
					return accountError(args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "account %s approved\n", acc.Username)
				return nil
			})
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List accounts, those awaiting approval first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withAccounts(cmd, func(ctx context.Context, s *account.Service) error {
				as, err := s.List(ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 2, 2, ' ', 0)
				fmt.Fprintln(w, "NAME\tAPPROVED\tLOCKED\tTOTP\tEMAIL")
				for _, x := range as {
					fmt.Fprintf(w, "%s\t%v\t%v\t%v\t%s\n", x.Username, x.Approved, x.Locked, x.TOTP, x.Email)
				}
				return w.Flush()
			})
		},
	}
	cmd.AddCommand(add, reset, approve, list)
	return cmd
}

// accountError says which account was not found, for store.ErrNotFound,
// and returns other errors as they are.
func accountError(name string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no account %q (see labhub account list)", name)
	}
	return err
}

// withAccounts runs f with an account service on the state; the password
// policy and lockout use their defaults.
func (a *app) withAccounts(cmd *cobra.Command, f func(ctx context.Context, s *account.Service) error) error {
	ctx := cmd.Context()
	keys, db, err := a.openState(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	s := account.New(db, keys, account.Options{Native: true,
		Password: account.PasswordPolicy{MinLength: 10, MinScore: 2},
		Throttle: account.ThrottleOptions{AccountFailures: 5, AddressFailures: 20}})
	return f(ctx, s)
}

// readPassword takes a password from LABHUB_PASSWORD or the first line of
// standard input, so it stays out of the shell history and process list.
func readPassword(cmd *cobra.Command) (string, error) {
	if pw := os.Getenv("LABHUB_PASSWORD"); pw != "" {
		return pw, nil
	}
	line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("give the password in LABHUB_PASSWORD or on standard input")
	}
	return pw, nil
}

// sweepAccounts deletes old failed-login counts every few minutes.
func sweepAccounts(ctx context.Context, s *account.Service, log *slog.Logger) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			log.Error("failed to sweep login throttle", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
