package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/train"
)

// gate scores the model group's newest approved version on the same
// benchmark as the trained one and fails when the new one is worse by more
// than max_drop (mAP50-95). Both numbers go into the step's output. With no
// approved version there is nothing to be worse than.
func gate(ctx context.Context, e *env, r *run) (outcome, error) {
	got, ok := r.state["benchmark_map50_95"].(float64)
	if !ok {
		return outcome{}, fail("no benchmark score: a gate step must follow evaluate with on: benchmark")
	}
	drop, err := r.maxDrop()
	if err != nil {
		return outcome{}, err
	}
	group := r.param("model")
	bench, _ := r.state["benchmark_dataset"].(string) // the version evaluate scored on
	out := map[string]any{"metric": "map50_95", "benchmark": bench, "new_map50_95": got}
	mv, err := e.store.LatestModelVersion(ctx, group, vise.Approved)
	if vise.ErrorCode(err) == vise.CodeNotFound {
		out["note"] = "model " + group + " has no approved version: nothing to compare with"
		return outcome{output: out}, nil
	}
	if err != nil {
		return outcome{}, err
	}
	dir, err := os.MkdirTemp(e.workDir, "gate-")
	if err != nil {
		return outcome{}, err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	if _, err := e.exportDataset(ctx, "benchmark", bench, data); err != nil {
		return outcome{}, err
	}
	model, err := e.materialize(ctx, mv.Artifact.SHA256, dir)
	if err != nil {
		return outcome{}, err
	}
	rep, err := train.Evaluate(ctx, e.training, model, data, "")
	if err != nil {
		return outcome{}, permanentUnlessStopped(ctx, fmt.Errorf("approved version %d: %w", mv.Version, err))
	}
	out["approved_version"], out["approved_map50_95"] = mv.Version, rep.MAP5095
	if got < rep.MAP5095-drop {
		return outcome{output: out}, fail("the new model scores mAP50-95 %.4f on the benchmark, worse than approved version %d's %.4f (allowed drop %.4f): not registered",
			got, mv.Version, rep.MAP5095, drop)
	}
	return outcome{output: out}, nil
}

// register makes the trained model the model group's next version, pending
// approval, with its scores and lineage. It is idempotent per execution: a
// rerun after a crash between registering and recording the step finds the
// version it made (its lineage names the execution as the training run).
func register(ctx context.Context, e *env, r *run) (outcome, error) {
	sha, _ := r.state["trained_sha256"].(string)
	if sha == "" {
		return outcome{}, fail("no trained model: a register step must follow train")
	}
	group := r.param("model")
	vs, err := e.store.ListModelVersions(ctx, group)
	if err != nil && vise.ErrorCode(err) != vise.CodeNotFound {
		return outcome{}, err
	}
	for _, mv := range vs {
		if mv.Lineage.TrainingRun == r.exec.ID && mv.Artifact.SHA256 == sha {
			return registered(mv, true), nil
		}
	}
	metrics := map[string]float64{}
	for _, k := range []string{"map50", "map50_95"} {
		if v, ok := r.state["validation_"+k].(float64); ok {
			metrics[k] = v
		}
		if v, ok := r.state["benchmark_"+k].(float64); ok {
			metrics["benchmark_"+k] = v
		}
	}
	dataset, _ := r.state["dataset"].(string)
	digest, _ := r.state["dataset_digest"].(string)
	bench, _ := r.state["benchmark_dataset"].(string)
	params := map[string]string{"pipeline": r.exec.Pipeline, "epochs": r.param("epochs"), "trainer": "train.py"}
	if d, _ := r.state["benchmark_digest"].(string); d != "" {
		params["benchmark_digest"] = d
	}
	for _, k := range []string{"train_images", "val_images"} {
		if v, ok := r.state[k]; ok {
			params[k] = fmt.Sprint(v)
		}
	}
	mv, err := e.reg.RegisterModel(ctx, group, vise.RegisterModelRequest{SHA256: sha, Metrics: metrics,
		Lineage:     vise.Lineage{Dataset: dataset, DatasetDigest: digest, Benchmark: bench, TrainingRun: r.exec.ID, Params: params},
		Description: fmt.Sprintf("trained by pipeline %s (execution %s)", r.exec.Pipeline, r.exec.ID)}, "pipeline "+r.exec.ID)
	if err != nil {
		return outcome{}, unlessUnavailable(err)
	}
	return registered(mv, false), nil
}

// maxDrop is how much lower than the approved version's the new mAP50-95
// may be: the gate step's max_drop, else the execution's max_drop
// parameter (so one run can loosen it, as a wiring test on a tiny
// training budget must), else 0.
func (r *run) maxDrop() (float64, error) {
	if _, ok := r.step.With["max_drop"]; ok {
		return r.number("max_drop", 0), nil
	}
	p := r.param("max_drop")
	if p == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(p, 64)
	if err != nil || !(f >= 0 && f <= 1) {
		return 0, fail("max_drop %q: give a number from 0 to 1 (mAP50-95 the new version may lose)", p)
	}
	return f, nil
}

func registered(mv *vise.ModelVersion, before bool) outcome {
	out := map[string]any{"registered_version": mv.Version, "approval": string(mv.Approval.Status)}
	if before {
		out["note"] = "registered by an earlier attempt of this step"
	}
	return outcome{output: out}
}
