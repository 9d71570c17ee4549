package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/server"
	"github.com/vise-edge/vise/train"
)

// loopOptions are the loop proof's settings.
type loopOptions struct {
	dataset, work            string
	trainer, infer, ortLib   string
	epochs, devices, shots   int
	maxDrop                  string
	interval                 time.Duration
	requireImprovement, keep bool
}

// loopModel is one model version of the proof and its scores on the
// benchmark split.
type loopModel struct {
	Version        int     `json:"version"`
	Dataset        string  `json:"dataset"`
	DatasetDigest  string  `json:"dataset_digest"`
	Execution      string  `json:"execution"`
	BenchmarkMAP50 float64 `json:"benchmark_map50"`
	BenchmarkMAP   float64 `json:"benchmark_map50_95"`
	ValMAP50       float64 `json:"validation_map50"`
	ValMAP         float64 `json:"validation_map50_95"`
	TrainSeconds   float64 `json:"train_seconds"` // the retrain execution, start to end
}

// loopCount counts shots or images of the three parts of the dataset.
type loopCount struct {
	First     int `json:"first"`     // the first model trains on them
	Replayed  int `json:"replayed"`  // the devices replay them
	Benchmark int `json:"benchmark"` // both models are scored on them
}

// loopReport is what `vise loop-proof` prints (-o json).
type loopReport struct {
	Source    string    `json:"source"`
	Epochs    int       `json:"epochs"`
	Devices   int       `json:"devices"`
	Shots     loopCount `json:"shots"` // camera shots
	Images    loopCount `json:"images"`
	Benchmark string    `json:"benchmark"`
	First     loopModel `json:"first"`
	Retrained loopModel `json:"retrained"`
	Improved  bool      `json:"improved"`
	// Labelled counts the images saved with their true labels through
	// the API; CameBack the distinct images the devices sent.
	Labelled int `json:"labelled"`
	CameBack int `json:"came_back"`
	// LabelToRunningSeconds runs from the last saved label to the first
	// result of the retrained model from a device.
	LabelToRunningSeconds float64 `json:"label_to_running_seconds"`
	RunningOn             string  `json:"running_on"`
	// LabelToDeployedSeconds runs on to the end of the edge-deploy the
	// approval started (every device healthy and verified), EdgeDeploy.
	LabelToDeployedSeconds float64              `json:"label_to_deployed_seconds"`
	EdgeDeploy             string               `json:"edge_deploy"`
	DatasetVersion         *vise.DatasetVersion `json:"dataset_version"`
	ManifestBytes          int                  `json:"manifest_bytes"`
	TotalSeconds           float64              `json:"total_seconds"`
}

func (a *app) loopProofCmd() *cobra.Command {
	var o loopOptions
	c := &cobra.Command{
		Use:   "loop-proof",
		Short: "Prove the improvement loop: train on half the camera shots, replay the rest on devices, label what came back, retrain, deploy",
		Long: `Starts a server that trains and in-process devices in a new folder, then:
imports the dataset (version 1), trains the first model on half of its camera
shots by the retrain pipeline, approves it (edge-deploy takes it to the
devices), has the devices replay the other half with every image sent back,
labels those images through the API with their true labels (standing in for
a person), makes a new dataset version of the first half plus the labelled
images, retrains, approves the new version and waits until a device infers
with it. Both models are scored on the same benchmark split: the camera shots
of the dataset's own validation split, which neither trains on.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			rep, err := a.loopProof(c.Context(), o)
			if err != nil {
				return err
			}
			if perr := a.print(rep, func(w *tabwriter.Writer) { printLoop(w, rep) }); perr != nil {
				return perr
			}
			if o.requireImprovement && !rep.Improved {
				return vise.Errorf(vise.CodeConflict, "the retrained model scores mAP50-95 %.4f on the benchmark, not higher than the first model's %.4f",
					rep.Retrained.BenchmarkMAP, rep.First.BenchmarkMAP)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&o.dataset, "dataset", filepath.Join("..", "shared", "datasets", "metal-tags"), "YOLO-layout dataset to prove the loop on")
	f.StringVar(&o.work, "work", "", "folder for the server's and devices' data (default a new temporary folder, removed after)")
	f.StringVar(&o.trainer, "trainer", filepath.Join("train", "train.py"), "the trainer script")
	f.StringVar(&o.infer, "infer", filepath.Join("bin", "vise-infer"), "vise-infer: evaluates, and runs on the devices")
	f.StringVar(&o.ortLib, "ort-lib", envOr("VISE_ORT_LIB", filepath.Join(".cache", "onnxruntime", "1.30.0", "libonnxruntime.so.1")), "ONNX Runtime library")
	f.IntVar(&o.epochs, "epochs", 80, "training epochs of each model")
	f.IntVar(&o.devices, "devices", 2, "devices replaying the second half")
	f.IntVar(&o.shots, "shots", 0, "use at most this many camera shots for each part (first training set, devices, benchmark), for a quick run; 0: all")
	f.StringVar(&o.maxDrop, "max-drop", "0", "mAP50-95 the retrained model may lose against the first and still be registered (retrain's max_drop)")
	f.DurationVar(&o.interval, "interval", 200*time.Millisecond, "time between a device's images")
	f.BoolVar(&o.requireImprovement, "require-improvement", true, "fail unless the retrained model scores higher on the benchmark")
	f.BoolVar(&o.keep, "keep", false, "keep the work folder")
	return a.addOutput(c)
}

// loopRun is one proof's running parts.
type loopRun struct {
	o       loopOptions
	cl      *client.Client
	s       *server.Server
	devices []string
	cameras string // one folder of images per device
	log     *slog.Logger
}

func (a *app) loopProof(ctx context.Context, o loopOptions) (*loopReport, error) {
	start := time.Now()
	for _, f := range []struct{ path, flag string }{{o.trainer, "--trainer"}, {o.infer, "--infer"}, {o.ortLib, "--ort-lib"}, {filepath.Join(o.dataset, "data.yaml"), "--dataset"}} {
		if !fileExists(f.path) {
			return nil, vise.Errorf(vise.CodeInvalid, "%s is not there: run 'make loop-proof' from the repository (it builds and fetches what is needed) or pass %s", f.path, f.flag)
		}
	}
	work, cleanup, err := workFolder(o)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	logFile, err := os.Create(filepath.Join(work, "loop-proof.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	log := slog.New(slog.NewTextHandler(logFile, nil))
	s, err := server.New(ctx, server.Config{Listen: "127.0.0.1:0", DeviceListen: "127.0.0.1:0", MQTTListen: "127.0.0.1:0",
		DataDir: filepath.Join(work, "server"), Logger: log, PipelinePoll: 200 * time.Millisecond,
		Training: train.Config{Script: o.trainer, Infer: o.infer, ORTLib: o.ortLib}})
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		s.Close()
		return nil, err
	}
	defer s.Close()
	r := &loopRun{o: o, cl: client.New(s.URL(), s.AdminToken()), s: s, cameras: filepath.Join(work, "cameras"), log: log}
	agentsCtx, stopAgents := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopAgents(); wg.Wait() }()
	rep := &loopReport{Source: o.dataset, Epochs: o.epochs, Devices: o.devices}
	if err := r.prove(ctx, agentsCtx, &wg, rep); err != nil {
		return nil, fmt.Errorf("loop proof (log: %s): %w", logFile.Name(), err)
	}
	rep.TotalSeconds = time.Since(start).Seconds()
	return rep, nil
}

// workFolder is o.work or a new temporary folder, and what removes it.
func workFolder(o loopOptions) (string, func(), error) {
	if o.work != "" {
		return o.work, func() {}, os.MkdirAll(o.work, 0o700)
	}
	dir, err := os.MkdirTemp("", "vise-loop-proof-")
	if err != nil {
		return "", nil, err
	}
	if o.keep {
		return dir, func() {}, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

func printLoop(w *tabwriter.Writer, r *loopReport) {
	fmt.Fprintf(w, "dataset\t%s: %d shots trained first (%d images), %d replayed by %d devices (%d images), %d benchmark (%d images, %s)\n",
		r.Source, r.Shots.First, r.Images.First, r.Shots.Replayed, r.Devices, r.Images.Replayed, r.Shots.Benchmark, r.Images.Benchmark, r.Benchmark)
	for _, m := range []struct {
		what string
		m    loopModel
	}{{"first model", r.First}, {"retrained", r.Retrained}} {
		fmt.Fprintf(w, "%s\tversion %d on %s: benchmark mAP50 %.4f, mAP50-95 %.4f (validation %.4f / %.4f), trained in %.0f s\n",
			m.what, m.m.Version, m.m.Dataset, m.m.BenchmarkMAP50, m.m.BenchmarkMAP, m.m.ValMAP50, m.m.ValMAP, m.m.TrainSeconds)
	}
	fmt.Fprintf(w, "improved\t%v\nlabelled\t%d of %d images that came back, through the API\n", r.Improved, r.Labelled, r.CameBack)
	fmt.Fprintf(w, "label to running\t%.1f s (last saved label to the retrained model's first result, on %s); %.1f s to edge-deploy %s succeeding\n",
		r.LabelToRunningSeconds, r.RunningOn, r.LabelToDeployedSeconds, r.EdgeDeploy)
	if dv := r.DatasetVersion; dv != nil {
		fmt.Fprintf(w, "dataset version\t%s: %d images, %s of images, manifest %d bytes, digest %s\n", dv.Ref(), dv.Images, size(dv.Bytes), r.ManifestBytes, dv.Digest)
	}
	fmt.Fprintf(w, "total\t%.0f s\n", r.TotalSeconds)
}
