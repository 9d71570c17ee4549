package pipeline

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/procstat"
	"github.com/vise-edge/vise/store"
	"github.com/vise-edge/vise/train"
)

// trainingEngine is an engine on SQLite that trains with Debian's Python,
// the repository's train.py and a vise-infer built for the test.
func trainingEngine(t *testing.T) *Engine {
	t.Helper()
	lib := os.Getenv("VISE_ORT_LIB")
	if lib == "" {
		if os.Getenv("VISE_REQUIRE_ORT") != "" {
			t.Fatal("VISE_REQUIRE_ORT is set but VISE_ORT_LIB is not")
		}
		t.Skip("VISE_ORT_LIB is not set (make test fetches ONNX Runtime into .cache/onnxruntime)")
	}
	script, _ := filepath.Abs(filepath.Join("..", "train", "train.py"))
	cfg := train.Config{Script: script, Infer: buildInfer(t), ORTLib: lib}
	if err := trainerCheck(cfg); err != nil {
		if os.Getenv("VISE_REQUIRE_TRAINER") != "" {
			t.Fatalf("VISE_REQUIRE_TRAINER is set: %v", err)
		}
		t.Skipf("the trainer cannot run here (scripts/setup.sh test installs it): %v", err)
	}
	work := t.TempDir()
	return newEngineWith(t, store.SQLite, 20*time.Millisecond, func(o *Options) { o.Training, o.WorkDir = cfg, work })
}

// trainerCheck checks the trainer's Python once per test binary: importing
// torch takes seconds.
var trainerCheck = func() func(train.Config) error {
	var once sync.Once
	var err error
	return func(c train.Config) error {
		once.Do(func() { err = train.Check(ctx, c, train.Modules) })
		return err
	}
}()

func buildInfer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vise-infer")
	build := exec.Command("go", "build", "-o", bin, "../cmd/vise-infer")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build vise-infer: %v\n%s", err, out)
	}
	return bin
}

// samples is the repository's 20-image dataset (one class, no data.yaml).
func samples(t *testing.T) string {
	t.Helper()
	p, _ := filepath.Abs(filepath.Join("..", "samples"))
	return p
}

// copyDataset links the samples into a new dataset folder and writes
// extra files (name -> content) into it.
func copyDataset(t *testing.T, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"images", "labels"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
		entries, _ := os.ReadDir(filepath.Join(samples(t), sub))
		for _, en := range entries {
			os.Symlink(filepath.Join(samples(t), sub, en.Name()), filepath.Join(dir, sub, en.Name()))
		}
	}
	for name, body := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// importDataset makes a dataset version of a YOLO folder (classes from its
// data.yaml, else scratch); split names an image's split where the
// camera-shot hash should not decide. It returns NAME@VERSION.
func importDataset(t *testing.T, e *Engine, name, dir string, split map[string]string) string {
	t.Helper()
	classes, err := train.Classes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if classes == nil {
		classes = []string{"scratch"}
	}
	req := vise.ImportDatasetRequest{Classes: classes}
	images, _ := filepath.Glob(filepath.Join(dir, "images", "*.jpg"))
	for _, path := range images {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		art, err := e.reg.Upload(ctx, f, -1, "")
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		it := vise.DatasetItem{Name: filepath.Base(path), SHA256: art.SHA256, Split: split[filepath.Base(path)]}
		label, _ := os.ReadFile(filepath.Join(dir, "labels", strings.TrimSuffix(it.Name, ".jpg")+".txt"))
		for _, l := range strings.Split(strings.TrimSpace(string(label)), "\n") {
			var b vise.DatasetBox
			if _, err := fmt.Sscan(l, &b.Class, &b.CX, &b.CY, &b.W, &b.H); err == nil {
				it.Boxes = append(it.Boxes, b)
			}
		}
		req.Items = append(req.Items, it)
	}
	dv, _, err := e.datasets.Import(ctx, name, req, "test")
	if err != nil {
		t.Fatal(err)
	}
	return dv.Ref()
}

// uploadModel puts a sample model into the registry's blobs.
func uploadModel(t *testing.T, e *Engine, name string) vise.Artifact {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "samples", "models", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	art, err := e.reg.Upload(ctx, f, -1, "")
	if err != nil {
		t.Fatal(err)
	}
	return art
}

// directRun is a run of one action outside an execution's job, as its
// step would see it.
func directRun(id string, params map[string]string, with map[string]any, state map[string]any) *run {
	return &run{exec: &vise.Execution{ID: id, Pipeline: "retrain", Params: params}, step: &Step{Name: "s", With: with}, state: state, attempt: 1}
}

// train.py failing (here on a truncated JPEG: its header reads, so the
// import takes it, but PIL cannot decode it in the first epoch) fails the
// train step at once with the last lines of its log, and nothing is
// registered.
func TestRetrainTrainerFails(t *testing.T) {
	e := trainingEngine(t)
	registerSample(t, e, "tags")
	whole, _ := os.ReadFile(filepath.Join(samples(t), "images", "image-2020-04-22-10-15-16-00-cropped-left-bottom.jpg"))
	dataset := copyDataset(t, map[string]string{
		"images/aaa-cropped-left-top.jpg": string(whole[:len(whole)/3]),
		"labels/aaa-cropped-left-top.txt": "0 0.5 0.5 0.2 0.2\n",
	})
	ref := importDataset(t, e, "broken", dataset, map[string]string{"aaa-cropped-left-top.jpg": vise.SplitTrain})
	x, err := e.Run(ctx, "retrain", map[string]string{"model": "tags", "dataset": ref, "benchmark": ref, "epochs": "1"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	x = await(t, e, x.ID)
	s := step(x, "train")
	if x.Status != vise.ExecutionFailed || s == nil || s.Attempts != 1 || !strings.Contains(s.Error, "trainer failed") ||
		!strings.Contains(s.Error, "cannot read image") || !strings.Contains(s.Error, "truncated") || !strings.Contains(x.Error, "aaa-cropped-left-top.jpg") {
		t.Fatalf("execution %s %q; train step %+v", x.Status, x.Error, s)
	}
	if !strings.Contains(string(s.Output), `"log":[`) || !strings.Contains(string(s.Output), "cannot read image") {
		t.Errorf("the step's output lacks the trainer's log: %s", s.Output)
	}
	if got := stepNamesOf(x); strings.Join(got, ",") != "train" {
		t.Errorf("steps %v ran; want train alone", got)
	}
	if vs, _ := e.store.ListModelVersions(ctx, "tags"); len(vs) != 1 {
		t.Errorf("%d versions of tags, want the sample alone", len(vs))
	}
}

func stepNamesOf(x *vise.Execution) []string {
	var out []string
	for _, s := range x.Steps {
		out = append(out, s.Step)
	}
	return out
}

// evaluate scores the trained model on the run's validation split or on
// the benchmark, and refuses a benchmark with a class the model does not
// detect before running anything.
func TestEvaluate(t *testing.T) {
	e := trainingEngine(t)
	art := uploadModel(t, e, "metal-tags.onnx")
	val, _ := os.ReadFile(filepath.Join("..", "samples", "models", "metal-tags.val.txt"))
	var names []any
	for _, n := range strings.Fields(string(val)) {
		names = append(names, n)
	}
	ref := importDataset(t, e, "tags", samples(t), nil)
	state := map[string]any{"trained_sha256": art.SHA256, "val_list": names, "dataset": ref}
	dented := importDataset(t, e, "dented", copyDataset(t, map[string]string{"data.yaml": "names:\n  0: scratch\n  1: dent\n"}), nil)
	for _, tc := range []struct {
		on, benchmark, want string
	}{
		{splitValidation, "", ""},
		{splitBenchmark, ref, ""},
		{splitBenchmark, dented, "1: dent"},
	} {
		t.Run(tc.on+tc.benchmark, func(t *testing.T) {
			r := directRun("x-eval", map[string]string{"model": "tags", "dataset": "tags@9", "benchmark": tc.benchmark}, map[string]any{"on": tc.on}, state)
			out, err := evaluate(ctx, &e.env, r)
			if tc.want != "" {
				var p permanent
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "does not detect") || !asPermanent(err, &p) {
					t.Fatalf("got %v, want a permanent error naming %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			images, _ := out.output[tc.on+"_images"].(int)
			m, _ := out.output[tc.on+"_map50_95"].(float64)
			wantImages := 20
			if tc.on == splitValidation {
				wantImages = len(names) // the sample images of the validation split
			}
			if images == 0 || images > wantImages || m <= 0 {
				t.Errorf("output %v: want up to %d images and a positive mAP50-95", out.output, wantImages)
			}
			if want := map[string]string{splitValidation: ref, splitBenchmark: tc.benchmark}[tc.on]; out.output[tc.on+"_dataset"] != want {
				t.Errorf("scored on %v, want %s (the version trained on, not the parameter's tags@9)", out.output[tc.on+"_dataset"], want)
			}
		})
	}
}

// The gate scores the approved version on the same benchmark, puts both
// numbers into its output, and fails when the new one is worse.
func TestGate(t *testing.T) {
	e := trainingEngine(t)
	art := uploadModel(t, e, "metal-tags.onnx")
	if _, err := e.reg.RegisterModel(ctx, "tags", vise.RegisterModelRequest{SHA256: art.SHA256, Approve: true}, "test"); err != nil {
		t.Fatal(err)
	}
	bench := importDataset(t, e, "bench", samples(t), nil)
	for _, tc := range []struct {
		name     string
		score    float64
		maxDrop  string
		fails    bool
		failWith string
	}{
		{"worse", 0.01, "", true, "worse than approved version 1"},
		{"better", 0.99, "", false, ""},
		{"worse, within max_drop", 0.01, "1", false, ""},
		{"bad max_drop", 0.99, "lots", true, `max_drop "lots": give a number from 0 to 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := directRun("x-gate", map[string]string{"model": "tags", "benchmark": "bench@7", "max_drop": tc.maxDrop}, nil,
				map[string]any{"benchmark_map50_95": tc.score, "benchmark_dataset": bench})
			out, err := gate(ctx, &e.env, r)
			approved, _ := out.output["approved_map50_95"].(float64)
			var p permanent
			if tc.fails != (err != nil) || (tc.fails && (!asPermanent(err, &p) || !strings.Contains(err.Error(), tc.failWith))) {
				t.Fatalf("gate error %v, want failure %v", err, tc.fails)
			}
			if tc.maxDrop == "lots" {
				return // refused before scoring anything
			}
			if out.output["new_map50_95"] != tc.score || approved < 0.1 || out.output["approved_version"] != 1 || out.output["benchmark"] != bench {
				t.Errorf("output %v: want both scores, the approved version and the benchmark %s", out.output, bench)
			}
		})
	}
}

// register is idempotent per execution: a rerun (a server that died
// between registering and recording the step) finds the version it made.
func TestRegisterOnce(t *testing.T) {
	e := newEngine(t, store.SQLite, 20*time.Millisecond)
	registerSample(t, e, "tags")
	art := uploadModel(t, e, "metal-tags.onnx")
	state := map[string]any{"trained_sha256": art.SHA256, "dataset": "tags@2", "dataset_digest": strings.Repeat("d", 64), "validation_map50": 0.8,
		"validation_map50_95": 0.5, "benchmark_map50_95": 0.45, "train_images": 16, "benchmark_dataset": "bench@1", "benchmark_digest": strings.Repeat("b", 64)}
	params := map[string]string{"model": "tags", "dataset": "tags", "benchmark": "bench@1", "epochs": "3"}
	var versions []any
	for range 2 {
		out, err := register(ctx, &e.env, directRun("x-reg", params, nil, state))
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, out.output["registered_version"])
	}
	vs, _ := e.store.ListModelVersions(ctx, "tags")
	if len(vs) != 2 || versions[0] != 2 || versions[1] != 2 {
		t.Fatalf("%d versions, register returned %v; want one new version, 2, twice", len(vs), versions)
	}
	mv := vs[0]
	if mv.Approval.Status != vise.PendingManualApproval || mv.Lineage.TrainingRun != "x-reg" || mv.Lineage.DatasetDigest != state["dataset_digest"] ||
		mv.Lineage.Dataset != "tags@2" || mv.Lineage.Benchmark != "bench@1" || mv.Lineage.Params["benchmark_digest"] != state["benchmark_digest"] ||
		mv.Metrics["map50_95"] != 0.5 || mv.Metrics["benchmark_map50_95"] != 0.45 || mv.Lineage.Params["train_images"] != "16" {
		t.Errorf("registered %+v lineage %+v metrics %v", mv.Approval, mv.Lineage, mv.Metrics)
	}
	// Another execution training the same file is another version.
	if out, err := register(ctx, &e.env, directRun("x-other", params, nil, state)); err != nil || out.output["registered_version"] != 3 {
		t.Errorf("another execution: %v %v", out.output, err)
	}
}

func asPermanent(err error, p *permanent) bool { return errors.As(err, p) }

// The train step refuses, before starting Python, what cannot train.
func TestTrainRefuses(t *testing.T) {
	trains := newEngineWith(t, store.SQLite, 20*time.Millisecond, func(o *Options) {
		o.Training, o.WorkDir = train.Config{Script: "train.py", Infer: "vise-infer"}, t.TempDir()
	})
	for _, tc := range []struct {
		name   string
		e      *Engine
		params map[string]string
		want   string
	}{
		{"a server without the trainer", newEngine(t, store.SQLite, 20*time.Millisecond), map[string]string{"dataset": "tags@1", "epochs": "1"}, "this server does not train: start it with --trainer"},
		{"no dataset", trains, map[string]string{"dataset": "", "epochs": "1"}, "no dataset: pass --param dataset=NAME@VERSION"},
		{"a folder", trains, map[string]string{"dataset": samples(t), "epochs": "1"}, "is not a dataset version: pass NAME@VERSION ('vise dataset import NAME DIR'"},
		{"no such version", trains, map[string]string{"dataset": "tags@9", "epochs": "1"}, "dataset: no dataset version tags@9"},
		{"no epochs", trains, map[string]string{"dataset": "tags@1", "epochs": "0"}, `epochs "0": give a whole number`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := trainModel(ctx, &tc.e.env, directRun("x-train", tc.params, nil, map[string]any{}))
			var p permanent
			if err == nil || !strings.Contains(err.Error(), tc.want) || !asPermanent(err, &p) {
				t.Fatalf("got %v, want a permanent error with %q", err, tc.want)
			}
		})
	}
}

// Training past the step's timeout stops the trainer (no process left)
// and fails the step for good, saying what to change; it is not retried.
func TestTrainTimeout(t *testing.T) {
	e := trainingEngine(t)
	registerSample(t, e, "tags")
	apply(t, e, `name: quick-train
params: {model: {required: true}, dataset: {required: true}, epochs: {default: "50"}}
steps:
  - {name: train, action: train, timeout: 2s, retry: {attempts: 3}}
`)
	x, err := e.Run(ctx, "quick-train", map[string]string{"model": "tags", "dataset": importDataset(t, e, "tags", samples(t), nil)}, "test")
	if err != nil {
		t.Fatal(err)
	}
	x = await(t, e, x.ID)
	if s := step(x, "train"); x.Status != vise.ExecutionFailed || s.Attempts != 1 || !strings.Contains(s.Error, "training ran past the step's timeout") {
		t.Fatalf("execution %s %q; step %+v", x.Status, x.Error, s)
	}
	for deadline := time.Now().Add(10 * time.Second); len(procstat.WithCmdline(e.workDir)) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("trainer processes left: %v", procstat.WithCmdline(e.workDir))
		}
	}
}

// retrain may make a model group's first version, but its dataset and
// benchmark must be dataset versions there are; edge-deploy still needs a
// model that exists.
func TestRetrainParams(t *testing.T) {
	e := newEngine(t, store.SQLite, 20*time.Millisecond)
	ref := importDataset(t, e, "tags", samples(t), nil)
	for _, tc := range []struct {
		pipeline string
		params   map[string]string
		want     string
	}{
		{"retrain", map[string]string{"model": "fresh", "dataset": ref, "benchmark": ref}, ""},
		{"retrain", map[string]string{"model": "fresh", "dataset": "tags@9", "benchmark": ref}, `dataset "tags@9": no dataset version tags@9`},
		{"retrain", map[string]string{"model": "fresh", "dataset": ref, "benchmark": samples(t)}, `benchmark "` + samples(t) + `": invalid dataset name`},
		{"edge-deploy", map[string]string{"model": "fresh", "target": "group:line"}, "model fresh not found"},
	} {
		_, err := e.Run(ctx, tc.pipeline, tc.params, "test")
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s %v: %v, want %q", tc.pipeline, tc.params, err, tc.want)
		}
	}
}
