// Package agentcmd is the agent's command line — its flags, their
// environment defaults and its logger — shared by `vise agent` and the
// device's own binary, vise-agent, so the two cannot drift apart.
package agentcmd

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/agent"
)

// Flags are the agent's command-line settings.
type Flags struct {
	cfg                 agent.Config
	logFormat, logLevel string
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
}

// Run runs the agent on dataDir until ctx ends, logging to logs.
func (fl *Flags) Run(ctx context.Context, dataDir string, logs io.Writer) error {
	log, err := Logger(logs, fl.logFormat, fl.logLevel)
	if err != nil {
		return err
	}
	cfg := fl.cfg
	cfg.Logger, cfg.DataDir = log, dataDir
	ag, err := agent.New(cfg)
	if err != nil {
		return err
	}
	return ag.Run(ctx)
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
