// Command vise is Vise's one pure-Go binary: the server, the edge agent, and
// every client command people and scripts use.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/agent/agentcmd"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vise: "+oneLine(err))
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	if errors.Is(err, context.Canceled) {
		return 130
	}
	return vise.ExitCode(vise.ErrorCode(err))
}

var errUsage = errors.New("usage")

func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
}

// app is the state shared by commands: where the server is, how to print.
type app struct {
	stdout, stderr io.Writer
	server         string
	token          string
	dataDir        string
	output         string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a := &app{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "vise",
		Short:         "Vise: ML visual inspection at the edge — registry, deployments, devices, results",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w: %w (see '%s --help')", errUsage, err, c.CommandPath())
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.server, "server", envOr("VISE_SERVER", "http://"+server.DefaultListen), "server URL (env VISE_SERVER)")
	pf.StringVar(&a.token, "token", os.Getenv("VISE_TOKEN"), "API token (env VISE_TOKEN; default: the admin token in the data directory)")
	pf.StringVar(&a.dataDir, "data", envOr("VISE_DATA", defaultDataDir()), "data directory (env VISE_DATA)")
	root.AddCommand(a.serverCmd(), a.agentCmd(), a.demoCmd(), a.loopProofCmd(), a.modelCmd(), a.componentCmd(),
		a.deviceCmd(), a.groupCmd(), a.deployCmd(), a.deploymentCmd(), a.pipelineCmd(), a.resultsCmd(), a.verdictsCmd(), a.ipcCmd(), a.trainCmd(), a.simCmd(), a.brokerCmd(), versionCmd())
	root.AddCommand(a.labelCmd(), a.datasetCmd())
	root.AddCommand(a.userCmd())
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "vise")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "vise")
	}
	return "vise-data"
}

// client returns an API client; the token defaults to the admin token a
// local server wrote into the data directory.
func (a *app) client() *client.Client {
	token := a.token
	if token == "" {
		if b, err := os.ReadFile(filepath.Join(a.dataDir, server.AdminTokenFile)); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	c := client.New(a.server, token)
	c.Warnings = func(msg string) { fmt.Fprintln(a.stderr, "warning: "+msg) }
	return c
}

// addOutput adds -o/--output to a command that prints data.
func (a *app) addOutput(c *cobra.Command) *cobra.Command {
	c.Flags().StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	return c
}

// print writes v as JSON with -o json, else calls table.
func (a *app) print(v any, table func(w *tabwriter.Writer)) error {
	switch a.output {
	case "json":
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "table", "":
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}
	return fmt.Errorf("%w: unknown output format %q; use table or json", errUsage, a.output)
}

func (a *app) isTerminal() bool {
	f, ok := a.stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// logger is the logger --log-format and --log-level describe.
func (a *app) logger(format, level string) (*slog.Logger, error) {
	return agentcmd.Logger(a.stderr, format, level)
}

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

func versionCmd() *cobra.Command {
	return &cobra.Command{Use: "version", Short: "Print the version", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprintln(c.OutOrStdout(), "vise", Version)
			return nil
		}}
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%w: '%s' takes %s (see --help)", errUsage, c.CommandPath(), names)
		}
		return nil
	}
}

func rangeArgs(lo, hi int, names string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return fmt.Errorf("%w: '%s' takes %s (see --help)", errUsage, c.CommandPath(), names)
		}
		return nil
	}
}
