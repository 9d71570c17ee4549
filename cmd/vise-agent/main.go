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

	"github.com/spf13/pflag"

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

// usage is the --help text's first lines; pflag lists the flags after it.
const usage = `Usage: vise-agent --server URL --data DIR [--token T] [--name NAME]

Vise's edge agent: enroll once, then converge the device on its deployments.

Flags:
`

// run parses the flags with pflag alone: cobra would link text/template,
// whose reflection keeps every exported method in the binary, and the
// binary's pages are most of an idle agent's memory (decision 0018).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := agentcmd.Flags{SelfUpdate: true, ReleaseMemory: true}
	var dataDir string
	var version bool
	f := pflag.NewFlagSet("vise-agent", pflag.ContinueOnError)
	f.SetOutput(io.Discard)
	f.StringVar(&dataDir, "data", os.Getenv("VISE_DATA"), "data directory: identity, state, component generations, result queue (env VISE_DATA)")
	f.BoolVarP(&version, "version", "v", false, "print the version and exit")
	fl.Register(f)
	err := f.Parse(args)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		f.SetOutput(stdout)
		fmt.Fprint(stdout, usage)
		f.PrintDefaults()
		return nil
	case err != nil:
		return fmt.Errorf("%w: %w (see 'vise-agent --help')", errUsage, err)
	case f.NArg() > 0:
		return fmt.Errorf("%w: unknown command %q: vise-agent takes flags only (see --help)", errUsage, f.Arg(0))
	case version:
		fmt.Fprintln(stdout, "vise-agent version "+Version)
		return nil
	}
	return fl.Run(ctx, dataDir, stderr)
}
