package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/users"
)

func (a *app) userCmd() *cobra.Command {
	c := &cobra.Command{Use: "user", Short: "Manage the people who log in to the dashboard (admin token)"}
	c.AddCommand(a.userAddCmd(), a.userListCmd(), a.userRemoveCmd(), a.userPasswdCmd())
	return c
}

func (a *app) userAddCmd() *cobra.Command {
	var role string
	var fromStdin bool
	c := &cobra.Command{
		Use:   "add NAME --role viewer|labeller|admin",
		Short: "Add a user; the password is prompted for on a terminal, else read from stdin",
		Args:  exactArgs(1, "a user name"),
		RunE: func(c *cobra.Command, args []string) error {
			if err := vise.ValidateName("user", args[0]); err != nil {
				return err
			}
			if role != users.RoleViewer && role != users.RoleAdmin && role != users.RoleLabeller {
				return fmt.Errorf("%w: --role %q: use viewer (looks only), labeller (may also label images) or admin (may also approve and deploy)", errUsage, role)
			}
			pw, err := a.newPassword(c.Context(), fromStdin)
			if err != nil {
				return err
			}
			u, err := a.client().CreateUser(c.Context(), vise.CreateUserRequest{Name: args[0], Role: role, Password: pw})
			if err != nil {
				return err
			}
			return a.print(u, func(w *tabwriter.Writer) { fmt.Fprintf(w, "added user %s (%s)\n", u.Name, u.Role) })
		},
	}
	c.Flags().StringVar(&role, "role", users.RoleViewer, "viewer (looks only), labeller (may also label images) or admin (may also approve and deploy)")
	c.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin even on a terminal")
	return a.addOutput(c)
}

func (a *app) userListCmd() *cobra.Command {
	return a.addOutput(&cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			us, err := a.client().Users(c.Context())
			if err != nil {
				return err
			}
			return a.print(us, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "NAME\tROLE\tCREATED\tBY\tPASSWORD CHANGED")
				for _, u := range us {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, u.CreatedAt.Local().Format(time.DateTime), orNone(u.CreatedBy),
						u.PasswordChangedAt.Local().Format(time.DateTime))
				}
			})
		},
	})
}

func (a *app) userRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a user; their dashboard sessions end at once",
		Args:  exactArgs(1, "a user name"),
		RunE: func(c *cobra.Command, args []string) error {
			if err := a.client().RemoveUser(c.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "removed user %s\n", args[0])
			return nil
		},
	}
}

func (a *app) userPasswdCmd() *cobra.Command {
	var fromStdin bool
	c := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a user's password; their dashboard sessions end",
		Args:  exactArgs(1, "a user name"),
		RunE: func(c *cobra.Command, args []string) error {
			pw, err := a.newPassword(c.Context(), fromStdin)
			if err != nil {
				return err
			}
			if err := a.client().SetUserPassword(c.Context(), args[0], pw); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "changed the password of %s\n", args[0])
			return nil
		},
	}
	c.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of stdin even on a terminal")
	return c
}

// newPassword prompts twice without echo when stdin is a terminal, and
// otherwise (or with --password-stdin) reads the first line of stdin, so a
// password never has to appear on a command line or in shell history.
func (a *app) newPassword(ctx context.Context, fromStdin bool) (string, error) {
	fd := int(os.Stdin.Fd())
	var pw string
	if !fromStdin && term.IsTerminal(fd) {
		first, err := a.prompt(ctx, fd, "Password: ")
		if err != nil {
			return "", err
		}
		if err := users.CheckPassword(first); err != nil {
			return "", err
		}
		again, err := a.prompt(ctx, fd, "Repeat password: ")
		if err != nil {
			return "", err
		}
		if again != first {
			return "", vise.Errorf(vise.CodeInvalid, "the two passwords differ; run the command again")
		}
		pw = first
	} else {
		line, err := bufio.NewReader(io.LimitReader(os.Stdin, 64<<10)).ReadString('\n')
		if err != nil && err != io.EOF {
			return "", vise.Errorf(vise.CodeInvalid, "cannot read the password from stdin: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", vise.Errorf(vise.CodeInvalid, "no password on stdin: pipe it in (e.g. 'vise user add NAME --password-stdin < file') or run on a terminal to be asked")
		}
	}
	return pw, users.CheckPassword(pw)
}

// prompt reads a line without echo. Ctrl-C (which the CLI turns into a
// cancelled context) gives the terminal back as it was.
func (a *app) prompt(ctx context.Context, fd int, label string) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(a.stderr, label)
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		fmt.Fprintln(a.stderr)
		if r.err != nil {
			return "", fmt.Errorf("read password: %w", r.err)
		}
		return string(r.b), nil
	case <-ctx.Done():
		term.Restore(fd, state)
		fmt.Fprintln(a.stderr)
		return "", ctx.Err()
	}
}
