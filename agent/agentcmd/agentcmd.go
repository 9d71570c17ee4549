// Package agentcmd is the agent's command line — its flags, their
// environment defaults and its logger — shared by `vise agent` and the
// device's own binary, vise-agent, so the two cannot drift apart.
package agentcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/agent"
)

// Flags are the agent's command-line settings.
type Flags struct {
	// SelfUpdate: this binary can be replaced by a deployment of
	// vise.agent (vise-agent sets it; `vise agent` cannot, see
	// docs/decisions/0021). Set it before Register.
	SelfUpdate bool
	// ReleaseMemory: give memory back to the OS after each burst (see
	// agent.Config.ReleaseMemory); vise-agent sets it.
	ReleaseMemory bool

	cfg                 agent.Config
	logFormat, logLevel string
	candidate           bool
}

// Register adds the agent's flags to f. The data directory is not among
// them: `vise` takes it as a flag of every command, vise-agent as its own.
func (fl *Flags) Register(f *pflag.FlagSet) {
	f.StringVar(&fl.cfg.Server, "server", os.Getenv("VISE_DEVICE_SERVER"), "the server's device API, e.g. https://vise.local:8443 (env VISE_DEVICE_SERVER)")
	f.StringVar(&fl.cfg.Token, "token", os.Getenv("VISE_ENROLL_TOKEN"), "one-time enrollment token, first start only (env VISE_ENROLL_TOKEN)")
	f.StringVar(&fl.cfg.Name, "name", os.Getenv("VISE_DEVICE_NAME"), "device name (env VISE_DEVICE_NAME; default: the host name)")
	f.DurationVar(&fl.cfg.Reconcile, "reconcile", 2*time.Minute, "how often to check the server for the device's deployment")
	f.Int64Var(&fl.cfg.QueueMaxBytes, "queue-max-bytes", 256<<20, "cap on the results and verdicts waiting on disk for the server; images are given up first")
	f.DurationVar(&fl.cfg.QueueMaxAge, "queue-max-age", 7*24*time.Hour, "results and verdicts waiting longer are dropped")
	f.StringVar(&fl.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&fl.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	if fl.SelfUpdate {
		f.BoolVar(&fl.candidate, "candidate", false, "run as a self-update's candidate beside the running agent (started by the agent)")
		f.MarkHidden("candidate")
	}
}

// Run runs the agent on dataDir until ctx ends, logging to logs.
func (fl *Flags) Run(ctx context.Context, dataDir string, logs io.Writer) error {
	log, err := Logger(logs, fl.logFormat, fl.logLevel)
	if err != nil {
		return err
	}
	cfg := fl.cfg
	cfg.Logger, cfg.DataDir, cfg.SelfUpdate, cfg.ReleaseMemory = log, dataDir, fl.SelfUpdate, fl.ReleaseMemory
	if fl.candidate {
		return agent.RunCandidate(ctx, cfg)
	}
	if fl.SelfUpdate && dataDir != "" {
		// The service starts the packaged binary; a self-updated one in
		// the data directory takes its place here.
		bin, err := agent.Launch(dataDir, log)
		if err != nil {
			log.Warn("self-update: cannot tell which agent binary to run; running this one", "err", err)
		} else if bin != "" {
			return execAgent(bin)
		}
	}
	ag, err := agent.New(cfg)
	if err != nil {
		return err
	}
	err = ag.Run(ctx)
	if errors.Is(err, agent.ErrTakeover) {
		return execAgent(agent.Launcher())
	}
	return err
}

// execAgent replaces this process with another agent binary, same
// arguments and environment: the process id, and with it the service's
// main process, stays.
func execAgent(bin string) error {
	if err := syscall.Exec(bin, append([]string{bin}, os.Args[1:]...), os.Environ()); err != nil {
		return fmt.Errorf("start agent %s: %w", bin, err)
	}
	return nil
}

// Logger is the logger --log-format and --log-level describe; a bad value
// is an invalid-input error (exit status 2).
func Logger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, vise.Errorf(vise.CodeInvalid, "--log-format %q: use text or json", format)
}
