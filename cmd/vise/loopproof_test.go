package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// The loop proof's wiring on a tiny training budget (one epoch, a gate
// that lets any score through, one device): labels → dataset → train →
// gate → register with lineage → deploy. `make loop-proof` runs the same
// command with a real budget and requires the retrained model to score
// higher on the benchmark.
func TestLoopProofWiring(t *testing.T) {
	cfg := trainerTools(t)
	dir, _, _ := baseDataset(t)
	run := func(args ...string) (*loopReport, string, error) {
		cmd := exec.Command(viseBin, append([]string{"loop-proof", "--trainer", cfg.Script, "--infer", cfg.Infer, "--ort-lib", cfg.ORTLib,
			"--work", t.TempDir(), "-o", "json"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var rep loopReport
		if err == nil {
			err = json.Unmarshal(out.Bytes(), &rep)
		}
		return &rep, errb.String(), err
	}
	if _, stderr, err := run("--dataset", t.TempDir()); err == nil || !strings.Contains(stderr, "data.yaml is not there") {
		t.Errorf("a folder that is no dataset: %v %q", err, stderr)
	}

	rep, stderr, err := run("--dataset", dir, "--epochs", "1", "--max-drop", "1", "--require-improvement=false", "--devices", "1", "--interval", "100ms", "--shots", "4")
	if err != nil {
		t.Fatalf("vise loop-proof: %v\n%s", err, stderr)
	}
	t.Logf("tiny budget: %d+%d+%d images, label to running %.1f s, total %.0f s", rep.Images.First, rep.Images.Replayed, rep.Images.Benchmark,
		rep.LabelToRunningSeconds, rep.TotalSeconds)
	if rep.Images.First == 0 || rep.Images.Replayed == 0 || rep.Images.Benchmark == 0 {
		t.Errorf("dataset divided as %+v", rep.Images)
	}
	if rep.Labelled != rep.Images.Replayed {
		t.Errorf("%d images labelled, want every one of the %d replayed", rep.Labelled, rep.Images.Replayed)
	}
	dv := rep.DatasetVersion
	if dv == nil || dv.Ref() != "metal-tags-half@2" || dv.Base != "metal-tags-half@1" || dv.Images != rep.Images.First+rep.Images.Replayed || rep.ManifestBytes == 0 {
		t.Fatalf("dataset version %+v, want the first half plus the %d labelled images", dv, rep.Labelled)
	}
	// The command checked each version's registered lineage against these.
	if rep.First.Version != 1 || rep.First.Dataset != "metal-tags-half@1" || rep.Retrained.Version != 2 || rep.Retrained.Dataset != dv.Ref() ||
		rep.Retrained.DatasetDigest != dv.Digest || rep.Benchmark != "metal-tags-bench@1" {
		t.Errorf("first %+v, retrained %+v, benchmark %s", rep.First, rep.Retrained, rep.Benchmark)
	}
	if rep.RunningOn != "loop-cam-1" || rep.LabelToRunningSeconds <= 0 || rep.EdgeDeploy == "" || rep.LabelToDeployedSeconds < rep.LabelToRunningSeconds {
		t.Errorf("the retrained model runs on %q, %.1f s after the last label; edge-deploy %q done after %.1f s",
			rep.RunningOn, rep.LabelToRunningSeconds, rep.EdgeDeploy, rep.LabelToDeployedSeconds)
	}
}
