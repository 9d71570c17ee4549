package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/agent"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/pipeline"
	"github.com/vise-edge/vise/server"
)

// demoCmd runs the main job on one machine: the server with its embedded
// defaults, the sample model registered and approved, two edge agents with
// their own data directories, and the model deployed to them.
func (a *app) demoCmd() *cobra.Command {
	var listen, deviceListen, mqttListen, model, inferBin, ortLib, images, cameraListen, plcListen string
	var devices int
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run Vise on this machine: server, sample model, two edge devices (Ctrl-C stops it)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			logFile, err := openDemoLog(a.dataDir)
			if err != nil {
				return err
			}
			defer logFile.Close()
			log := slog.New(slog.NewTextHandler(logFile, nil))
			s, err := server.New(ctx, server.Config{Listen: listen, DeviceListen: deviceListen, MQTTListen: mqttListen,
				DataDir: filepath.Join(a.dataDir, "server"), Logger: log})
			if err != nil {
				return err
			}
			if err := s.Start(); err != nil {
				s.Close()
				return err
			}
			defer s.Close()
			cl := client.New(s.URL(), s.AdminToken())
			mv, err := a.registerSample(ctx, cl, model)
			if err != nil {
				return err
			}
			agentsCtx, stopAgents := context.WithCancel(ctx)
			var wg sync.WaitGroup
			defer func() { stopAgents(); wg.Wait() }()
			names, err := startAgents(agentsCtx, &wg, cl, s, agentSet{group: "demo", prefix: "demo-cam-", n: devices, dir: filepath.Join(a.dataDir, "agents")}, log)
			if err != nil {
				return err
			}
			if err := awaitEnrolled(ctx, cl, names); err != nil {
				return err
			}
			line, err := startDemoLine(images, cameraListen, plcListen)
			if err != nil {
				return err
			}
			defer line.Close()
			x, err := deploySample(ctx, cl, mv, inferBin, ortLib, images, line.configuration())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Vise is running.\n  dashboard: %s/  (log in with the admin token in %s)\n  API:       %s/v1/\n  devices:   %s (HTTPS), %s (MQTT, mutual TLS)\n  logs:      %s\n",
				s.URL(), filepath.Join(a.dataDir, "server", server.AdminTokenFile), s.URL(), s.DeviceURL(), s.MQTTAddr(), logFile.Name())
			fmt.Fprintf(a.stdout, "  model:     %s version %d (%s), deploying to group demo by pipeline edge-deploy (vise pipeline show %s)\n",
				mv.Group, mv.Version, mv.Approval.Status, x.ID)
			fmt.Fprintf(a.stdout, "Try: VISE_SERVER=%s VISE_DATA=%s vise device list\nPress Ctrl-C to stop.\n\n",
				s.URL(), filepath.Join(a.dataDir, "server"))
			fmt.Fprintf(a.stdout, "  line:      camera %s (read by demo-cam-1), PLC %s (coil 0 pulsed per demo-cam-1 reject)\n\n", line.CameraURL, line.PLCURL)
			a.demoSummary(ctx, cl, x.ID, time.Now(), func() string { return line.lineSummary(ctx, cl, names) })
			fmt.Fprintln(a.stdout, "\nstopping")
			return nil
		},
	}
	c.Flags().StringVar(&listen, "listen", server.DefaultListen, "address to serve the API on")
	c.Flags().StringVar(&deviceListen, "device-listen", "127.0.0.1:8443", "address of the device-facing HTTPS API")
	c.Flags().StringVar(&mqttListen, "mqtt-listen", "127.0.0.1:8883", "address of the MQTT broker")
	c.Flags().StringVar(&model, "model", filepath.Join("samples", "models", "metal-tags.onnx"), "ONNX model to register and deploy")
	c.Flags().IntVar(&devices, "devices", 2, "simulated edge devices to run")
	c.Flags().StringVar(&inferBin, "infer", filepath.Join("bin", "vise-infer"), "vise-infer binary to deploy as the inference component")
	c.Flags().StringVar(&ortLib, "ort-lib", envOr("VISE_ORT_LIB", filepath.Join(".cache", "onnxruntime", "1.30.0", "libonnxruntime.so.1")), "ONNX Runtime library to deploy as a component")
	c.Flags().StringVar(&cameraListen, "camera-listen", "127.0.0.1:8091", "address of the demo camera (MJPEG over HTTP)")
	c.Flags().StringVar(&plcListen, "plc-listen", "127.0.0.1:5020", "address of the demo PLC (Modbus TCP)")
	c.Flags().StringVar(&images, "images", filepath.Join("samples", "images"), "folder the simulated cameras replay")
	return c
}

func openDemoLog(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, vise.Errorf(vise.CodeUnavailable, "cannot create %s: %w", dir, err)
	}
	return os.OpenFile(filepath.Join(dir, "demo.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}

// registerSample registers the sample model unless its newest version
// already is that file, so running the demo twice does not pile up versions.
func (a *app) registerSample(ctx context.Context, cl *client.Client, path string) (*vise.ModelVersion, error) {
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

// agentSet is a number of in-process agents: their group, the prefix of
// their names (numbered from 1) and the folder of their data directories.
type agentSet struct {
	group, prefix, dir string
	n                  int
}

// startAgents runs edge agents in this process, each with its own data
// directory, enrolled into the set's group on first start.
func startAgents(ctx context.Context, wg *sync.WaitGroup, cl *client.Client, s *server.Server, set agentSet, log *slog.Logger) ([]string, error) {
	if _, err := cl.CreateGroup(ctx, vise.CreateGroupRequest{Name: set.group, Description: "vise " + set.group + " devices"}); err != nil && vise.ErrorCode(err) != vise.CodeConflict {
		return nil, err
	}
	var names []string
	for i := 1; i <= set.n; i++ {
		name := fmt.Sprintf("%s%d", set.prefix, i)
		cfg := agent.Config{Server: s.DeviceURL(), DataDir: filepath.Join(set.dir, name), Name: name,
			Reconcile: 30 * time.Second, Logger: log}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "identity")); err != nil {
			tok, err := cl.CreateEnrollmentToken(ctx, set.group, 10*time.Minute)
			if err != nil {
				return nil, err
			}
			cfg.Token = tok.Token
		}
		ag, err := agent.New(cfg)
		if err != nil {
			return nil, err
		}
		wg.Go(func() {
			if err := ag.Run(ctx); err != nil {
				log.Error("demo agent stopped", "device", name, "err", err)
			}
		})
		names = append(names, name)
	}
	return names, nil
}

// awaitEnrolled waits until every demo device is enrolled and connected.
func awaitEnrolled(ctx context.Context, cl *client.Client, names []string) error {
	deadline := time.Now().Add(time.Minute)
	for _, n := range names {
		for {
			d, err := cl.Device(ctx, n)
			if err == nil && d.LastSeenAt != nil {
				break
			}
			if time.Now().After(deadline) {
				return vise.Errorf(vise.CodeUnavailable, "demo device %s did not come up within a minute; see the log", n)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// deploySample makes vise-infer and the ONNX Runtime library into
// components and runs the edge-deploy pipeline for the sample model on the
// demo group; approvals of later versions then deploy by themselves.
func deploySample(ctx context.Context, cl *client.Client, mv *vise.ModelVersion, inferBin, ortLib, images string, line map[string]any) (*vise.Execution, error) {
	for _, f := range []struct{ path, what, flag string }{{inferBin, "vise-infer", "--infer"}, {ortLib, "the ONNX Runtime library", "--ort-lib"}} {
		if !fileExists(f.path) {
			return nil, vise.Errorf(vise.CodeInvalid, "%s is not at %s: run 'make demo' (it builds and fetches what the demo deploys) or pass %s", f.what, f.path, f.flag)
		}
	}
	if _, err := inspectComponents(ctx, cl, pipeline.ModelComponent(mv).Name, inferBin, ortLib, images, line); err != nil {
		return nil, err
	}
	target := vise.TargetGroup + ":demo"
	if _, err := cl.SetModelTargets(ctx, mv.Group, []vise.ModelTarget{{Target: target, Pipeline: "edge-deploy"}}); err != nil {
		return nil, err
	}
	return cl.RunPipeline(ctx, "edge-deploy", map[string]string{"model": mv.Group, "target": target})
}

// inspectComponents uploads the ONNX Runtime library and vise-infer and
// makes the inference component that depends on them and on any version
// of the model, so model and code update independently. Versions follow
// content, so an unchanged file is not a new version.
func inspectComponents(ctx context.Context, cl *client.Client, model, inferBin, ortLib, images string, line map[string]any) (*vise.Recipe, error) {
	lib, err := cl.UploadFile(ctx, ortLib, nil)
	if err != nil {
		return nil, err
	}
	runtime := &vise.Recipe{Name: "vise.runtime.onnxruntime", Version: "1.30.0",
		Artifacts: []vise.RecipeArtifact{{Name: "libonnxruntime.so.1", SHA256: lib.SHA256, Size: lib.Size}}}
	if _, _, err := cl.CreateComponent(ctx, runtime); err != nil {
		return nil, err
	}
	bin, err := cl.UploadFile(ctx, inferBin, nil)
	if err != nil {
		return nil, err
	}
	abs, _ := filepath.Abs(images)
	cfg := map[string]any{"source": abs, "replay": true, "interval": "1s", "confidence": 0.25, "threads": 1}
	for k, v := range line {
		cfg[k] = v
	}
	r := &vise.Recipe{Name: "vise.inspect", Version: "0.1.0-b" + bin.SHA256[:12] + ".c" + configVersion(cfg),
		Description: "vise-infer replaying sample images as a camera",
		Artifacts:   []vise.RecipeArtifact{{Name: "bin/vise-infer", SHA256: bin.SHA256, Size: bin.Size, Executable: true}},
		Dependencies: map[string]vise.Dependency{model: {Version: ">=1.0.0"},
			runtime.Name: {Version: "~1.30"}},
		Lifecycle: vise.Lifecycle{Run: &vise.Step{Script: `exec ./artifacts/bin/vise-infer run --model "$VISE_DEP_` + envKey(model) +
			`_ARTIFACTS/model.onnx" --ort-lib "$VISE_DEP_VISE_RUNTIME_ONNXRUNTIME_ARTIFACTS/libonnxruntime.so.1"`}},
		Configuration: cfg}
	if _, _, err := cl.CreateComponent(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

func envKey(name string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(name))
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// demoSummary prints the devices' progress and the results coming back
// until ctx ends.
func (a *app) demoSummary(ctx context.Context, cl *client.Client, id string, since time.Time, lineSummary func() string) {
	last := ""
	for {
		line := summaryLine(ctx, cl, id) + resultsLine(ctx, cl, since) + lineSummary()
		if line != last {
			fmt.Fprintln(a.stdout, time.Now().Format("15:04:05"), line)
			last = line
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// resultsLine counts every result stored (the server's metric) and the
// defects in the newest hundred, so the line stays cheap as results pile up.
func resultsLine(ctx context.Context, cl *client.Client, since time.Time) string {
	stored, err := cl.Metric(ctx, `vise_results_total{outcome="stored"}`)
	if err != nil || stored == 0 {
		return ""
	}
	rs, err := cl.Results(ctx, "", since, 100)
	if err != nil {
		return ""
	}
	defects := 0
	for _, r := range rs {
		defects += r.Defects
	}
	return fmt.Sprintf("; results %.0f (%.1f/s), defects in the newest %d: %d", stored, stored/time.Since(since).Seconds(), len(rs), defects)
}

// summaryLine is the execution's step and status, then its newest
// deployment's progress on each device.
func summaryLine(ctx context.Context, cl *client.Client, execID string) string {
	x, err := cl.Execution(ctx, execID)
	if err != nil {
		return "edge-deploy: " + err.Error()
	}
	line := "edge-deploy " + string(x.Status) + "; "
	switch {
	case x.Status == vise.ExecutionRunning && len(x.Steps) > 0:
		line = fmt.Sprintf("edge-deploy %s %s; ", x.Step, x.Steps[len(x.Steps)-1].Status)
	case x.Error != "":
		line = fmt.Sprintf("edge-deploy %s (%s); ", x.Status, shorten(x.Error))
	}
	id, _ := x.State["deployment"].(string)
	if id == "" {
		return line + "no deployment"
	}
	d, err := cl.Deployment(ctx, id)
	if err != nil {
		return line + "deployment: " + err.Error()
	}
	line += fmt.Sprintf("deployment %s: %s;", d.ID[len(d.ID)-6:], d.Status)
	for _, dd := range d.Devices {
		line += fmt.Sprintf(" %s %s", dd.Device, dd.State)
	}
	return line
}
