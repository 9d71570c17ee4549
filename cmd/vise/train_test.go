package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/procstat"
	"github.com/vise-edge/vise/train"
)

// trainerTools are what a training test needs: vise-infer, ONNX Runtime,
// and Debian's Python with the trainer's modules. Without them the test
// skips, or fails in make test (VISE_REQUIRE_ORT, VISE_REQUIRE_TRAINER).
func trainerTools(t *testing.T) train.Config {
	t.Helper()
	lib := os.Getenv("VISE_ORT_LIB")
	if lib == "" {
		if os.Getenv("VISE_REQUIRE_ORT") != "" {
			t.Fatal("VISE_REQUIRE_ORT is set but VISE_ORT_LIB is not")
		}
		t.Skip("VISE_ORT_LIB is not set (make test fetches ONNX Runtime into .cache/onnxruntime)")
	}
	script, _ := filepath.Abs(filepath.Join("..", "..", "train", "train.py"))
	cfg := train.Config{Script: script, ORTLib: lib}
	if err := train.Check(t.Context(), cfg, train.Modules); err != nil {
		if os.Getenv("VISE_REQUIRE_TRAINER") != "" {
			t.Fatalf("VISE_REQUIRE_TRAINER is set: %v", err)
		}
		t.Skipf("the trainer cannot run here (scripts/setup.sh test installs it): %v", err)
	}
	cfg.Infer = buildInfer(t)
	return cfg
}

// vise train on a machine without Debian's python3-torch says which
// packages to install, before any work (python3 -S stands for such a
// machine: it leaves Debian's modules off the path).
func TestTrainNamesMissingPackages(t *testing.T) {
	e := startServer(t)
	bare := e.write("bare-python", "#!/bin/sh\nexec /usr/bin/python3 -S \"$@\"\n")
	os.Chmod(bare, 0o755)
	samples, _ := filepath.Abs(filepath.Join("..", "..", "samples"))
	script, _ := filepath.Abs(filepath.Join("..", "..", "train", "train.py"))
	e.fails(2, "needs the Debian packages python3-torch, python3-onnx", "train", "--dataset", samples, "--python", bare,
		"--trainer", script, "--infer", bare)
}

// The trainer end to end on a tiny budget: vise train registers a version
// with metrics and lineage; then the retrain pipeline, run on a server that
// trains, is killed (kill -9, server and trainer) in the middle of
// training. The restarted server trains again, evaluates, gates and
// registers exactly one new version, pending approval.
func TestRetrainSurvivesKill9(t *testing.T) {
	cfg := trainerTools(t)
	samples, _ := filepath.Abs(filepath.Join("..", "..", "samples"))
	data := t.TempDir()
	flags := []string{"--trainer", cfg.Script, "--vise-infer", cfg.Infer, "--ort-lib", cfg.ORTLib}
	e, cmd := startServerOn(t, data, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", flags...)

	var trained struct {
		MAP50      float64            `json:"map50"`
		Registered *vise.ModelVersion `json:"registered"`
	}
	out := e.ok("train", "--dataset", samples, "--name", "tags", "--epochs", "1", "--size", "160", "--trainer", cfg.Script, "--infer", cfg.Infer,
		"--ort-lib", cfg.ORTLib, "-o", "json")
	if err := json.Unmarshal([]byte(out), &trained); err != nil || trained.Registered == nil {
		t.Fatalf("vise train -o json: %v\n%s", err, out)
	}
	if mv := trained.Registered; mv.Version != 1 || len(mv.Lineage.DatasetDigest) != 64 || mv.Lineage.Params["epochs"] != "1" ||
		mv.Lineage.Params["val_images"] != "4" || mv.ClassNames[0] != "scratch" {
		t.Fatalf("vise train registered %+v", mv)
	}

	// retrain trains on a dataset version, exported by the server.
	tags := t.TempDir()
	os.CopyFS(tags, os.DirFS(samples))
	os.RemoveAll(filepath.Join(tags, "models"))
	os.WriteFile(filepath.Join(tags, "data.yaml"), []byte("names:\n  0: scratch\n"), 0o644)
	dv := e.datasetJSON("dataset", "import", "tags", tags)
	id := runID(t, e.ok("pipeline", "run", "retrain", "--model", "tags", "--param", "dataset=tags@1", "--param", "benchmark=tags@1",
		"--param", "epochs=3", "-o", "json"))
	e.waitFor("the trainer's log in the train step", 120*time.Second, func() bool {
		s := findStep(e.execution(id), "train")
		return s != nil && strings.Contains(string(s.Output), `\"event\": \"dataset\"`)
	})
	trainers := procstat.WithCmdline(filepath.Join(data, "training"))
	if len(trainers) == 0 {
		t.Fatal("no trainer process runs while the train step streams its log")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	killedAt := time.Now()
	e.waitFor("the trainer to die with the server", 10*time.Second, func() bool { return len(procstat.WithCmdline(filepath.Join(data, "training"))) == 0 })

	e, _ = startServerOn(t, data, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", flags...)
	x := e.awaitExecution(id, 300*time.Second)
	want := []string{"train", "evaluate-validation", "evaluate-benchmark", "gate", "register"}
	if x.Status != vise.ExecutionSucceeded || strings.Join(stepNames(x), ",") != strings.Join(want, ",") {
		t.Fatalf("execution %s %q, steps %v", x.Status, x.Error, stepNames(x))
	}
	s := findStep(x, "train")
	var progress struct{ Epoch, Epochs int }
	json.Unmarshal(s.Output, &progress)
	if s.FinishedAt.Before(killedAt) || s.Attempts != 2 || progress.Epoch != 3 || progress.Epochs != 3 {
		t.Errorf("train step did not run again to its end after the restart: attempts %d, output %s", s.Attempts, s.Output)
	}
	if s := findStep(x, "gate"); !strings.Contains(string(s.Output), "no approved version") || !strings.Contains(string(s.Output), `"new_map50_95"`) {
		t.Errorf("gate output %s", s.Output)
	}
	var vs []vise.ModelVersion
	json.Unmarshal([]byte(e.ok("model", "show", "tags", "-o", "json")), &vs)
	if len(vs) != 2 {
		t.Fatalf("%d versions of tags, want vise train's and one from retrain", len(vs))
	}
	mv := vs[0]
	if mv.Version != 2 || mv.Approval.Status != vise.PendingManualApproval || mv.Lineage.TrainingRun != id || mv.Lineage.Dataset != "tags@1" ||
		mv.Lineage.DatasetDigest != dv.Digest || mv.Lineage.Benchmark != "tags@1" || mv.Lineage.Params["epochs"] != "3" || mv.Lineage.Params["val_images"] != fmt.Sprint(dv.Val) {
		t.Errorf("retrain registered %d %+v lineage %+v", mv.Version, mv.Approval, mv.Lineage)
	}
	for _, m := range []string{"map50", "map50_95", "benchmark_map50", "benchmark_map50_95"} {
		if _, ok := mv.Metrics[m]; !ok {
			t.Errorf("metric %s missing: %v", m, mv.Metrics)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(data, "training")); len(left) != 0 {
		t.Errorf("training work folder keeps %d entries", len(left))
	}
}
