package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/vise-edge/vise"
)

// loopWait bounds each wait of the proof: a retrain on a real budget, a
// deployment, the images coming back.
const loopWait = 90 * time.Minute

// prove runs the loop; the devices run on agentsCtx.
func (r *loopRun) prove(ctx, agentsCtx context.Context, wg *sync.WaitGroup, rep *loopReport) error {
	for i := 1; i <= r.o.devices; i++ {
		r.devices = append(r.devices, fmt.Sprintf("loop-cam-%d", i))
	}
	d, err := r.divide(ctx, rep)
	if err != nil {
		return err
	}
	if rep.First, err = r.retrain(ctx, d.first, d.bench); err != nil {
		return fmt.Errorf("first model: %w", err)
	}
	if err := r.startDevices(ctx, agentsCtx, wg); err != nil {
		return err
	}
	if _, err := r.cl.Decide(ctx, loopModelName, rep.First.Version, vise.Approved, "loop proof: the first model"); err != nil {
		return err
	}
	lastLabel, err := r.labelAll(ctx, d, rep)
	if err != nil {
		return err
	}
	dv, _, err := r.cl.CreateDataset(ctx, loopHalf, vise.CreateDatasetRequest{Base: d.first, Model: loopModelName + "@" + strconv.Itoa(rep.First.Version)})
	if err != nil {
		return err
	}
	rep.DatasetVersion = dv
	if rep.ManifestBytes, err = r.manifestBytes(ctx, dv); err != nil {
		return err
	}
	if rep.Retrained, err = r.retrain(ctx, dv.Ref(), d.bench); err != nil {
		return fmt.Errorf("retrained model: %w", err)
	}
	rep.Improved = rep.Retrained.BenchmarkMAP > rep.First.BenchmarkMAP
	if _, err := r.cl.Decide(ctx, loopModelName, rep.Retrained.Version, vise.Approved, "loop proof: retrained on what came back"); err != nil {
		return err
	}
	if rep.RunningOn, err = r.awaitRunning(ctx, rep.Retrained.Version); err != nil {
		return err
	}
	rep.LabelToRunningSeconds = time.Since(lastLabel).Seconds()
	if rep.EdgeDeploy, err = r.awaitDeployed(ctx, rep.Retrained.Version); err != nil {
		return err
	}
	rep.LabelToDeployedSeconds = time.Since(lastLabel).Seconds()
	return nil
}

// awaitDeployed waits for the edge-deploy execution the version's approval
// started to succeed: every device runs it, healthy, and verified.
func (r *loopRun) awaitDeployed(ctx context.Context, version int) (string, error) {
	cause := fmt.Sprintf("model %s/%d approved", loopModelName, version)
	var x *vise.Execution
	err := poll(ctx, "edge-deploy of version "+strconv.Itoa(version), loopWait, 500*time.Millisecond, func() (bool, error) {
		xs, err := r.cl.Executions(ctx, "edge-deploy", 20)
		if err != nil {
			return false, err
		}
		for i := range xs {
			if xs[i].Cause == cause {
				x = &xs[i]
			}
		}
		return x != nil && x.Finished(), nil
	})
	if err != nil {
		return "", err
	}
	if x.Status != vise.ExecutionSucceeded {
		return x.ID, vise.Errorf(vise.CodeConflict, "edge-deploy %s of version %d %s at step %s: %s", x.ID, version, x.Status, x.Step, x.Error)
	}
	return x.ID, nil
}

// retrain runs the retrain pipeline and reads its scores.
func (r *loopRun) retrain(ctx context.Context, dataset, bench string) (loopModel, error) {
	x, err := r.cl.RunPipeline(ctx, "retrain", map[string]string{"model": loopModelName, "dataset": dataset, "benchmark": bench,
		"epochs": strconv.Itoa(r.o.epochs), "max_drop": r.o.maxDrop})
	if err != nil {
		return loopModel{}, err
	}
	started := time.Now()
	err = poll(ctx, "retrain execution "+x.ID, loopWait, time.Second, func() (bool, error) {
		x, err = r.cl.Execution(ctx, x.ID)
		return err == nil && x.Finished(), err
	})
	if err != nil {
		return loopModel{}, err
	}
	if x.Status != vise.ExecutionSucceeded {
		return loopModel{}, vise.Errorf(vise.CodeConflict, "retrain %s %s at step %s: %s", x.ID, x.Status, x.Step, x.Error)
	}
	num := func(k string) float64 { f, _ := x.State[k].(float64); return f }
	str := func(k string) string { s, _ := x.State[k].(string); return s }
	m := loopModel{Version: int(num("registered_version")), Dataset: str("dataset"), DatasetDigest: str("dataset_digest"), Execution: x.ID,
		BenchmarkMAP50: num("benchmark_map50"), BenchmarkMAP: num("benchmark_map50_95"), ValMAP50: num("validation_map50"), ValMAP: num("validation_map50_95")}
	m.TrainSeconds = time.Since(started).Seconds() // the local monotonic clock: the wall clock here may step
	mv, err := r.cl.ModelVersion(ctx, loopModelName, m.Version)
	if err != nil {
		return m, err
	}
	if mv.Lineage.Dataset != dataset || mv.Lineage.DatasetDigest == "" || mv.Lineage.Benchmark != bench {
		return m, vise.Errorf(vise.CodeInternal, "version %d's lineage names dataset %q and benchmark %q, not %s and %s", mv.Version, mv.Lineage.Dataset, mv.Lineage.Benchmark, dataset, bench)
	}
	return m, nil
}

// startDevices runs the agents, makes the inference component (each
// device replaying its own camera folder and sending every image back)
// and points the model's approvals at the devices' group.
func (r *loopRun) startDevices(ctx, agentsCtx context.Context, wg *sync.WaitGroup) error {
	names, err := startAgents(agentsCtx, wg, r.cl, r.s, agentSet{group: "loop", prefix: "loop-cam-", n: r.o.devices,
		dir: filepath.Join(filepath.Dir(r.cameras), "agents")}, r.log)
	if err != nil {
		return err
	}
	if err := awaitEnrolled(ctx, r.cl, names); err != nil {
		return err
	}
	cameras := map[string]string{}
	for _, n := range names {
		cameras[n] = filepath.Join(r.cameras, n)
	}
	cfg := map[string]any{"upload": "all", "interval": r.o.interval.String(), "source_by_device": cameras}
	if _, err := inspectComponents(ctx, r.cl, "vise.model."+loopModelName, r.o.infer, r.o.ortLib, r.cameras, cfg); err != nil {
		return err
	}
	_, err = r.cl.SetModelTargets(ctx, loopModelName, []vise.ModelTarget{{Target: vise.TargetGroup + ":loop", Pipeline: "edge-deploy"}})
	return err
}

// labelAll labels each replayed image, the first time it comes back,
// with its true boxes through the API (standing in for a person), until
// every one has; it returns when the last label was saved.
func (r *loopRun) labelAll(ctx context.Context, d *loopData, rep *loopReport) (time.Time, error) {
	var last time.Time
	done := map[string]bool{}
	err := poll(ctx, "every replayed image to come back", loopWait, time.Second, func() (bool, error) {
		ims, err := r.cl.Labels(ctx, vise.LabelFilter{State: vise.LabelNew, Limit: 10000})
		if err != nil {
			return false, err
		}
		for _, im := range ims {
			truth, ok := d.replayed[im.ImageName]
			if !ok || done[im.ImageName] {
				continue
			}
			req := vise.SaveLabelRequest{Version: im.Version, State: vise.LabelLabelled, Boxes: pixelBoxes(truth, d.classes, im.Width, im.Height)}
			if _, err := r.cl.SaveLabel(ctx, im.Device, im.MsgID, req); err != nil {
				return false, fmt.Errorf("label %s (%s/%s): %w", im.ImageName, im.Device, im.MsgID, err)
			}
			done[im.ImageName], last = true, time.Now()
		}
		return len(done) == len(d.replayed), nil
	})
	rep.Labelled, rep.CameBack = len(done), len(done)
	return last, err
}

// pixelBoxes turns an item's YOLO boxes into boxes in image pixels,
// inside the image.
func pixelBoxes(it vise.DatasetItem, classes []string, w, h int) []vise.LabelBox {
	out := []vise.LabelBox{}
	W, H := float64(w), float64(h)
	for _, b := range it.Boxes {
		x := math.Max(0, math.Round((b.CX-b.W/2)*W))
		y := math.Max(0, math.Round((b.CY-b.H/2)*H))
		bw := math.Min(math.Round(b.W*W), W-x)
		bh := math.Min(math.Round(b.H*H), H-y)
		if bw >= 1 && bh >= 1 {
			out = append(out, vise.LabelBox{Class: classes[b.Class], X: x, Y: y, Width: bw, Height: bh})
		}
	}
	return out
}

// awaitRunning waits for the first image a device inferred with the
// model version, and names the device.
func (r *loopRun) awaitRunning(ctx context.Context, version int) (string, error) {
	var device string
	err := poll(ctx, fmt.Sprintf("a device to infer with version %d", version), loopWait, 200*time.Millisecond, func() (bool, error) {
		ims, err := r.cl.Labels(ctx, vise.LabelFilter{Model: loopModelName + "@" + strconv.Itoa(version), Limit: 1})
		if err != nil || len(ims) == 0 {
			return false, err
		}
		device = ims[0].Device
		return true, nil
	})
	return device, err
}

// poll calls check every `every` until it holds, fails, or timeout passes.
func poll(ctx context.Context, what string, timeout, every time.Duration, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := check()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return vise.Errorf(vise.CodeUnavailable, "waited %v for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}
