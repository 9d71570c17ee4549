package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise/agent/agentcmd"
	"github.com/vise-edge/vise/ingest"
	"github.com/vise-edge/vise/pipeline"
	"github.com/vise-edge/vise/server"
)

func (a *app) serverCmd() *cobra.Command {
	var cfg server.Config
	var logFormat, logLevel, cpuProfile, memProfile string
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
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			s, err := server.New(c.Context(), cfg)
			if err != nil {
				return err
			}
			return s.Run(heapProfileAtStop(c.Context(), memProfile, log))
		},
	}
	f := c.Flags()
	f.StringVar(&cfg.Listen, "listen", server.DefaultListen, "address to serve the API on")
	f.StringVar(&cfg.DeviceListen, "device-listen", "127.0.0.1:8443", "address of the device-facing HTTPS API (enrollment, deployments)")
	f.StringVar(&cfg.MQTTListen, "mqtt-listen", "127.0.0.1:8883", "address of the embedded MQTT broker (mutual TLS)")
	f.StringVar(&cfg.MQTTBroker, "mqtt-broker", os.Getenv("VISE_MQTT_BROKER"), "external MQTT broker, mqtts://host:port, instead of the embedded one (env VISE_MQTT_BROKER)")
	f.StringVar(&cfg.MQTTCA, "mqtt-ca", "", "PEM file with the CA of the external broker's certificate (default the Vise device CA)")
	f.StringVar(&cfg.MQTTPublicAddr, "mqtt-public-addr", "", "host:port devices use to reach the external broker (default that of --mqtt-broker)")
	f.StringVar(&cfg.MQTTClientID, "mqtt-client-id", "", "this replica's client id at the external broker, unique per replica (default vise:server:<host name>)")
	f.StringVar(&cfg.MQTTCRL, "mqtt-crl", "", "with --mqtt-broker: file to keep the device CA's CRL in, the broker's crlfile (written at start, on every revoke, daily)")
	f.StringVar(&cfg.MQTTReloadCommand, "mqtt-reload-command", "", `command run after each CRL write so the broker reads it, e.g. "systemctl reload mosquitto" (split at spaces, no shell)`)
	f.StringSliceVar(&cfg.Hosts, "host", nil, "name or address devices use to reach this server (repeatable; default loopback and the host name)")
	f.StringVar(&cfg.Gate, "gate", os.Getenv("VISE_GATE"), `quality gate for model registrations, e.g. "map50>=0.6,map50_95>=0.4" (env VISE_GATE)`)
	f.BoolVar(&cfg.AutoApprove, "auto-approve", false, "approve model versions that pass the quality gate")
	f.DurationVar(&cfg.PipelinePoll, "pipeline-poll", time.Second, "how often a waiting pipeline step checks again")
	f.DurationVar(&cfg.PipelineRescueAfter, "pipeline-rescue-after", pipeline.DefaultRescueAfter, "how long a pipeline step may run before it counts as abandoned by a crashed server and runs again (must exceed step timeouts)")
	f.StringVar(&cfg.Training.Script, "trainer", "", "train/train.py: this server trains (the retrain pipeline); needs --vise-infer and Debian's python3-torch, python3-onnx")
	f.StringVar(&cfg.Training.Python, "train-python", "/usr/bin/python3", "Python that runs the trainer (Debian's, with python3-torch and python3-onnx)")
	f.StringVar(&cfg.Training.Infer, "vise-infer", "", "vise-infer binary that evaluates trained models (bin/vise-infer after make build)")
	f.StringVar(&cfg.Training.ORTLib, "ort-lib", os.Getenv("VISE_ORT_LIB"), "ONNX Runtime library vise-infer loads to evaluate (env VISE_ORT_LIB)")
	f.Float64Var(&cfg.DeviceResultRate, "device-result-rate", ingest.DefaultDeviceRate, "results a second one device may send before it is told to send again later (PUBACK 0x97); negative: no limit")
	f.IntVar(&cfg.DeviceResultBurst, "device-result-burst", ingest.DefaultDeviceBurst, "results one device may send at once above --device-result-rate (an outbox draining after an outage)")
	f.DurationVar(&cfg.ResultsRetention, "results-retention", 30*24*time.Hour, "how long inference results are kept")
	f.StringVar(&cfg.LabelUncertain, "label-uncertain", "0.25-0.6", `top-confidence window that puts an image first in the labelling queue as uncertain, "LO-HI" or "off"`)
	f.DurationVar(&cfg.QualityWindow, "quality-window", time.Hour, "model-quality monitoring: the sliding window judged against each model version's canary baseline")
	f.DurationVar(&cfg.QualityStep, "quality-step", 5*time.Minute, "model-quality monitoring: how far the window slides between checks")
	f.StringVar(&cfg.QualityMargin, "quality-margin", "defect_rate=0.15,top_confidence=0.1,uncertain=0.15", "model-quality monitoring: how far a window may depart from its baseline before it is drift (0 leaves a measure unwatched)")
	f.Int64Var(&cfg.QualityMinFrames, "quality-min-frames", 50, "model-quality monitoring: fewest frames a window or baseline needs to be judged")
	f.StringVar(&cfg.DB, "db", os.Getenv("VISE_DB"), "database: a SQLite file path or a postgres:// URL (env VISE_DB; default <data>/vise.db)")
	f.StringVar(&cfg.Blobs, "blobs", os.Getenv("VISE_BLOBS"), "blob store: a directory or an s3:// URL (env VISE_BLOBS; default <data>/blobs)")
	f.Int64Var(&cfg.MaxUpload, "max-upload", 0, "largest accepted artifact in bytes (default 4 GiB)")
	f.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&cpuProfile, "cpu-profile", "", "write a CPU profile of the whole run to FILE at exit (read with 'go tool pprof')")
	f.StringVar(&memProfile, "mem-profile", "", "write a heap profile to FILE when asked to stop, before the devices are disconnected (read with 'go tool pprof')")
	return c
}

// heapProfileAtStop returns ctx, or, with a profile path, a context done
// only once the heap profile is written after ctx is done: the heap is
// profiled as it was in service, before shutdown lets go of connections.
func heapProfileAtStop(ctx context.Context, path string, log *slog.Logger) context.Context {
	if path == "" {
		return ctx
	}
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer cancel()
		<-ctx.Done()
		if err := writeHeapProfile(path); err != nil {
			log.Error("heap profile", "err", err)
		}
	}()
	return run
}

// startCPUProfile profiles until the returned function is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func (a *app) agentCmd() *cobra.Command {
	var fl agentcmd.Flags
	c := &cobra.Command{
		Use:   "agent --server URL --data DIR [--token T] [--name NAME]",
		Short: "Run the edge agent on a device: enroll once, then converge on its deployments",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return fl.Run(c.Context(), a.dataDir, a.stderr)
		},
	}
	fl.Register(c.Flags())
	return c
}

// writeHeapProfile writes the live heap, after a collection, to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--mem-profile: %w", err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		return fmt.Errorf("--mem-profile: %w", err)
	}
	return nil
}
