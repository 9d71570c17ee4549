// Command vise-agent is the device side of Vise on its own: the agent of
// `vise agent`, with the same flags, in a small pure-Go binary
// (CGO_ENABLED=0) for amd64 and arm64 devices. It sets garbage-collector
// defaults suited to a small device (see memory.go).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/agent/agentcmd"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

func main() {
	setMemoryDefaults()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vise-agent: "+strings.Join(strings.Fields(err.Error()), " "))
		os.Exit(exitCode(err))
	}
}

var errUsage = errors.New("usage")

func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	if errors.Is(err, context.Canceled) {
		return 130
	}
	return vise.ExitCode(vise.ErrorCode(err))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var fl agentcmd.Flags
	var dataDir string
	root := &cobra.Command{
		Use:     "vise-agent --server URL --data DIR [--token T] [--name NAME]",
		Short:   "Vise's edge agent: enroll once, then converge the device on its deployments",
		Version: Version,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("%w: unknown command %q: vise-agent takes flags only (see --help)", errUsage, args[0])
			}
			return nil
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(c *cobra.Command, _ []string) error {
			return fl.Run(c.Context(), dataDir, stderr)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w: %w (see '%s --help')", errUsage, err, c.CommandPath())
	})
	f := root.Flags()
	f.StringVar(&dataDir, "data", os.Getenv("VISE_DATA"), "data directory: identity, state, component generations, result queue (env VISE_DATA)")
	fl.Register(f)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}
