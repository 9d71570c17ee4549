package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/agent"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/server"
)

func (a *app) serverCmd() *cobra.Command {
	var cfg server.Config
	var logFormat, logLevel string
	c := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: API, registry, deployments (SQLite and local files by default)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := a.logger(logFormat, logLevel)
			if err != nil {
				return err
			}
			cfg.DataDir, cfg.Logger = a.dataDir, log
			s, err := server.New(c.Context(), cfg)
			if err != nil {
				return err
			}
			return s.Run(c.Context())
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Listen, "listen", server.DefaultListen, "address to serve the API on")
	f.StringVar(&cfg.DeviceListen, "device-listen", "127.0.0.1:8443", "address of the device-facing HTTPS API (enrollment, deployments)")
	f.StringVar(&cfg.MQTTListen, "mqtt-listen", "127.0.0.1:8883", "address of the embedded MQTT broker (mutual TLS)")
	f.StringSliceVar(&cfg.Hosts, "host", nil, "name or address devices use to reach this server (repeatable; default loopback and the host name)")
	f.StringVar(&cfg.DB, "db", os.Getenv("VISE_DB"), "database: a SQLite file path or a postgres:// URL (env VISE_DB; default <data>/vise.db)")
	f.StringVar(&cfg.Blobs, "blobs", os.Getenv("VISE_BLOBS"), "blob store: a directory or an s3:// URL (env VISE_BLOBS; default <data>/blobs)")
	f.Int64Var(&cfg.MaxUpload, "max-upload", 0, "largest accepted artifact in bytes (default 4 GiB)")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return c
}

func (a *app) agentCmd() *cobra.Command {
	var cfg agent.Config
	var logFormat, logLevel string
	c := &cobra.Command{
		Use:   "agent --server URL --data DIR [--token T] [--name NAME]",
		Short: "Run the edge agent on a device: enroll once, then converge on its deployments",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := a.logger(logFormat, logLevel)
			if err != nil {
				return err
			}
			cfg.Logger, cfg.DataDir = log, a.dataDir
			ag, err := agent.New(cfg)
			if err != nil {
				return err
			}
			return ag.Run(c.Context())
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Server, "server", os.Getenv("VISE_DEVICE_SERVER"), "the server's device API, e.g. https://vise.local:8443 (env VISE_DEVICE_SERVER)")
	f.StringVar(&cfg.Token, "token", os.Getenv("VISE_ENROLL_TOKEN"), "one-time enrollment token, first start only (env VISE_ENROLL_TOKEN)")
	f.StringVar(&cfg.Name, "name", "", "device name (default: the host name)")
	f.DurationVar(&cfg.Reconcile, "reconcile", 2*time.Minute, "how often to check the server for the device's deployment")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return c
}

// demoCmd runs the main job on one machine. Until the fleet and the
// dashboard exist it starts the server with the embedded defaults and
// registers the sample model.
func (a *app) demoCmd() *cobra.Command {
	var listen, model string
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run Vise on this machine with the sample model (Ctrl-C stops it)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := a.logger("text", "warn")
			if err != nil {
				return err
			}
			s, err := server.New(c.Context(), server.Config{Listen: listen, DataDir: a.dataDir, Logger: log})
			if err != nil {
				return err
			}
			if err := s.Start(); err != nil {
				s.Close()
				return err
			}
			defer s.Close()
			cl := client.New(s.URL(), s.AdminToken())
			mv, err := a.registerSample(c.Context(), cl, model)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Vise is running.\n  API:      %s/v1/\n  metrics:  %s/metrics\n  data:     %s\n  token:    in %s\n",
				s.URL(), s.URL(), a.dataDir, filepath.Join(a.dataDir, server.AdminTokenFile))
			fmt.Fprintf(a.stdout, "  model:    %s version %d (%s, sha256 %s…)\n", mv.Group, mv.Version, mv.Approval.Status, mv.Artifact.SHA256[:12])
			fmt.Fprintf(a.stdout, "Try: VISE_SERVER=%s VISE_DATA=%s vise model list\nPress Ctrl-C to stop.\n", s.URL(), a.dataDir)
			<-c.Context().Done()
			fmt.Fprintln(a.stdout, "stopping")
			return nil
		},
	}
	c.Flags().StringVar(&listen, "listen", server.DefaultListen, "address to serve the API on")
	c.Flags().StringVar(&model, "model", filepath.Join("samples", "models", "sample-tiny.onnx"), "ONNX model to register")
	return c
}

// registerSample registers the sample model unless its newest version
// already is that file, so running the demo twice does not pile up versions.
func (a *app) registerSample(ctx context.Context, cl *client.Client, path string) (*vise.ModelVersion, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	art, err := cl.UploadFile(ctx, path, nil)
	if err != nil {
		return nil, err
	}
	if vs, err := cl.ModelVersions(ctx, "metal-tags"); err == nil && len(vs) > 0 && vs[0].Artifact.SHA256 == art.SHA256 {
		return &vs[0], nil
	}
	return cl.RegisterModel(ctx, "metal-tags", vise.RegisterModelRequest{SHA256: art.SHA256, Approve: true,
		Reason: "sample model registered by vise demo", Description: "sample model shipped with Vise"})
}
