package pipeline

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"google.golang.org/protobuf/proto"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/blobs"
	"github.com/vise-edge/vise/datasets"
	"github.com/vise-edge/vise/fleet"
	"github.com/vise-edge/vise/onnx/onnxpb"
	"github.com/vise-edge/vise/registry"
	"github.com/vise-edge/vise/release"
	"github.com/vise-edge/vise/store"
	"github.com/vise-edge/vise/store/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

// Test actions: flaky fails until its third attempt; hang outlasts its
// timeout; broken fails for good at once.
var flakyTries sync.Map // execution id -> attempts so far

func init() {
	actions["test-flaky"] = action{run: func(_ context.Context, _ *env, r *run) (outcome, error) {
		n, _ := flakyTries.LoadOrStore(r.exec.ID, new(int))
		*n.(*int)++
		if *n.(*int) < 3 {
			return outcome{}, errors.New("device API briefly unavailable")
		}
		return outcome{output: map[string]any{"tries": *n.(*int)}}, nil
	}}
	actions["test-hang"] = action{run: func(ctx context.Context, _ *env, _ *run) (outcome, error) {
		<-ctx.Done()
		return outcome{}, ctx.Err()
	}}
	actions["test-broken"] = action{run: func(context.Context, *env, *run) (outcome, error) {
		return outcome{}, fail("the model file is corrupt")
	}}
}

// engines runs fn against an engine on SQLite and on PostgreSQL.
func engines(t *testing.T, fn func(t *testing.T, e *Engine)) {
	for _, engine := range []string{store.SQLite, store.Postgres} {
		t.Run(engine, func(t *testing.T) { fn(t, newEngine(t, engine, 20*time.Millisecond)) })
	}
}

func newEngine(t *testing.T, engine string, poll time.Duration) *Engine {
	t.Helper()
	return newEngineWith(t, engine, poll, nil)
}

// newEngineWith is newEngine with options set by with.
func newEngineWith(t *testing.T, engine string, poll time.Duration, with func(*Options)) *Engine {
	t.Helper()
	dir := t.TempDir()
	url := filepath.Join(dir, "vise.db")
	if engine == store.Postgres {
		url = pgtest.NewDatabase(t)
	}
	s, err := store.Open(ctx, store.Options{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	b, err := blobs.Open(ctx, filepath.Join(dir, "blobs"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	rel, err := release.Open(release.Options{Dir: filepath.Join(dir, "release")})
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(registry.Options{Store: s, Blobs: b, Signer: rel})
	opts := Options{Store: s, Registry: reg, Fleet: fleet.New(fleet.Options{Store: s, Signer: rel}), Datasets: datasets.New(s, b, nil), Poll: poll}
	if with != nil {
		with(&opts)
	}
	e, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Stop() })
	return e
}

func apply(t *testing.T, e *Engine, yaml string) {
	t.Helper()
	if _, _, err := e.Apply(ctx, []byte(yaml), "test"); err != nil {
		t.Fatal(err)
	}
}

func await(t *testing.T, e *Engine, id string) *vise.Execution {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		x, err := e.store.GetExecution(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if x.Finished() {
			return x
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution still %s at step %s after 60s", x.Status, x.Step)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func step(x *vise.Execution, name string) *vise.StepRun {
	for i := range x.Steps {
		if x.Steps[i].Step == name {
			return &x.Steps[i]
		}
	}
	return nil
}

func TestRetriesThenSucceeds(t *testing.T) {
	engines(t, func(t *testing.T, e *Engine) {
		apply(t, e, `name: p
steps:
  - name: flaky
    action: test-flaky
    retry: {attempts: 4, backoff: 10ms}
    next: pause
  - name: pause
    action: wait
    with: {duration: 50ms}
`)
		x, err := e.Run(ctx, "p", nil, "test")
		if err != nil {
			t.Fatal(err)
		}
		x = await(t, e, x.ID)
		f := step(x, "flaky")
		if x.Status != vise.ExecutionSucceeded || f.Attempts != 3 || f.Status != vise.ExecutionSucceeded || string(f.Output) != `{"tries":3}` {
			t.Fatalf("execution %s; flaky step %+v", x.Status, f)
		}
		if p := step(x, "pause"); p.Status != vise.ExecutionSucceeded || p.FinishedAt.Sub(p.StartedAt) < 50*time.Millisecond {
			t.Errorf("the wait step did not wait its 50ms: %+v", p)
		}
	})
}

func TestRetriesSpentGoToCatch(t *testing.T) {
	engines(t, func(t *testing.T, e *Engine) {
		apply(t, e, `name: p
steps:
  - name: hang
    action: test-hang
    timeout: 50ms
    retry: {attempts: 2, backoff: 10ms}
    catch: fallback
  - name: fallback
    action: wait
    with: {duration: 1ms}
    end: failed
`)
		x, _ := e.Run(ctx, "p", nil, "test")
		x = await(t, e, x.ID)
		h := step(x, "hang")
		if h.Attempts != 2 || h.Status != vise.ExecutionFailed || !strings.Contains(h.Error, "deadline exceeded") {
			t.Errorf("hang step %+v", h)
		}
		if x.Status != vise.ExecutionFailed || !strings.HasPrefix(x.Error, "step hang: ") || step(x, "fallback").Status != vise.ExecutionSucceeded {
			t.Errorf("execution %s %q, steps %+v", x.Status, x.Error, x.Steps)
		}
	})
}

func TestPermanentErrorIsNotRetried(t *testing.T) {
	engines(t, func(t *testing.T, e *Engine) {
		apply(t, e, "name: p\nsteps:\n  - {name: load, action: test-broken, retry: {attempts: 5}}\n")
		x, _ := e.Run(ctx, "p", nil, "test")
		x = await(t, e, x.ID)
		if s := step(x, "load"); x.Status != vise.ExecutionFailed || s.Attempts != 1 || x.Error != "step load: the model file is corrupt" {
			t.Errorf("execution %s %q, step %+v", x.Status, x.Error, s)
		}
	})
}

func registerSample(t *testing.T, e *Engine, group string) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "samples", "models", "sample-tiny.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	art, err := e.reg.Upload(ctx, f, -1, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.RegisterModel(ctx, group, vise.RegisterModelRequest{SHA256: art.SHA256}, "test"); err != nil {
		t.Fatal(err)
	}
}

// A step waiting on a deployment moves on when a device reports, not at
// its next poll (an hour away here).
func TestDeviceReportWakesWait(t *testing.T) {
	e := newEngine(t, store.SQLite, time.Hour)
	registerSample(t, e, "tags")
	if _, err := e.reg.Decide(ctx, "tags", 1, vise.Approved, "qa", "ok"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fleet.CreateDevice(ctx, vise.CreateDeviceRequest{Name: "cam-1"}); err != nil {
		t.Fatal(err)
	}
	apply(t, e, `name: p
params: {model: {required: true}, target: {required: true}, inference: {default: ""}}
steps:
  - {name: prepare, action: prepare-model, next: deploy}
  - {name: deploy, action: deploy, next: devices}
  - {name: devices, action: wait-deployment, timeout: 2h}
`)
	x, err := e.Run(ctx, "p", map[string]string{"model": "tags", "target": "device:cam-1"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	var dep string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		x, _ = e.store.GetExecution(ctx, x.ID)
		if s := step(x, "devices"); s != nil && s.Status == vise.StepWaiting {
			dep, _ = x.State["deployment"].(string)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the wait step did not start waiting: %+v", x.Steps)
		}
	}
	// A report racing the snooze itself is left to the poll; this one comes
	// once the step's job is parked.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		e.mu.Lock()
		w := e.waiters[dep]
		e.mu.Unlock()
		if w != nil {
			if j, err := e.river.JobGet(ctx, w.job); err == nil && j.State == rivertype.JobStateScheduled {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the waiting step's job was not parked")
		}
	}
	if err := e.store.SetDeviceState(ctx, dep, "cam-1", vise.DeviceRunning, ""); err != nil {
		t.Fatal(err)
	}
	e.Wake(ctx, dep)
	if x := await(t, e, x.ID); x.Status != vise.ExecutionSucceeded {
		t.Fatalf("execution %s %q", x.Status, x.Error)
	}
}

// Approving a model version starts the pipelines configured for its group,
// in the approval's own transaction.
func TestApprovalStartsPipeline(t *testing.T) {
	engines(t, func(t *testing.T, e *Engine) {
		registerSample(t, e, "tags")
		if _, err := e.fleet.CreateGroup(ctx, vise.CreateGroupRequest{Name: "line"}); err != nil {
			t.Fatal(err)
		}
		if err := e.store.SetModelTargets(ctx, "tags", []vise.ModelTarget{{Target: "group:line", Pipeline: "edge-deploy"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.reg.Decide(ctx, "tags", 1, vise.Approved, "qa", "ok"); err != nil {
			t.Fatal(err)
		}
		var xs []*vise.Execution
		for deadline := time.Now().Add(30 * time.Second); len(xs) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			xs, _ = e.store.ListExecutions(ctx, "", 10)
		}
		if len(xs) != 1 || xs[0].Cause != "model tags/1 approved" || xs[0].Params["target"] != "group:line" {
			t.Fatalf("executions after approval: %+v", xs)
		}
		// No inference component exists: the canary deploy fails for good
		// and the execution ends FAILED, with nothing to roll back.
		x := await(t, e, xs[0].ID)
		if x.Status != vise.ExecutionFailed || !strings.Contains(x.Error, "step canary: inference component: component vise.inspect not found") {
			t.Errorf("execution %s %q", x.Status, x.Error)
		}
	})
}

func TestCancel(t *testing.T) {
	engines(t, func(t *testing.T, e *Engine) {
		apply(t, e, "name: p\nsteps:\n  - {name: soak, action: wait, with: {duration: 1h}, timeout: 2h, next: after}\n  - {name: after, action: wait, with: {duration: 1ms}}\n")
		x, _ := e.Run(ctx, "p", nil, "test")
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			x, _ = e.store.GetExecution(ctx, x.ID)
			if s := step(x, "soak"); s != nil && s.Status == vise.StepWaiting {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("soak did not start waiting: %+v", x.Steps)
			}
		}
		if _, err := e.Cancel(ctx, x.ID, "qa"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Cancel(ctx, x.ID, "qa"); vise.ErrorCode(err) != vise.CodeConflict {
			t.Errorf("second cancel: %v", err)
		}
		if _, err := e.Cancel(ctx, "nope", "qa"); vise.ErrorCode(err) != vise.CodeNotFound {
			t.Errorf("cancel of an unknown execution: %v", err)
		}
		x = await(t, e, x.ID)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			x, _ = e.store.GetExecution(ctx, x.ID)
			if s := step(x, "soak"); s != nil && s.Status == vise.ExecutionCanceled || time.Now().After(deadline) {
				break
			}
		}
		if s := step(x, "soak"); x.Status != vise.ExecutionCanceled || x.Error != "canceled by qa" || s == nil || s.Status != vise.ExecutionCanceled || step(x, "after") != nil {
			t.Errorf("after cancel: %s %q %+v", x.Status, x.Error, x.Steps)
		}
	})
}

// edge-deploy's variant parameter picks the newest approved version of that
// variant: an INT8 one below a newer float one, or the float one.
func TestPrepareModelVariant(t *testing.T) {
	e := newEngine(t, store.SQLite, 20*time.Millisecond)
	registerSample(t, e, "tags") // 1: float
	if _, err := e.reg.Decide(ctx, "tags", 1, vise.Approved, "qa", "ok"); err != nil {
		t.Fatal(err)
	}
	apply(t, e, `name: p
params: {model: {required: true}, variant: {default: ""}}
steps:
  - {name: prepare, action: prepare-model}
`)
	prepared := func(variant string) (int, string) {
		t.Helper()
		x, err := e.Run(ctx, "p", map[string]string{"model": "tags", "variant": variant}, "test")
		if err != nil {
			t.Fatal(err)
		}
		x = await(t, e, x.ID)
		v, _ := x.State["model_version"].(float64)
		note, _ := x.State["note"].(string)
		return int(v), note + x.Error
	}
	if v, note := prepared("int8"); v != 0 || note != "no approved int8 version of model tags: nothing to deploy" {
		t.Errorf("int8 before there is one: version %d, %q", v, note)
	}
	registerInt8(t, e, "tags", 1) // 2: int8
	if _, err := e.reg.Decide(ctx, "tags", 2, vise.Approved, "qa", "ok"); err != nil {
		t.Fatal(err)
	}
	registerSample(t, e, "tags") // 3: float
	if _, err := e.reg.Decide(ctx, "tags", 3, vise.Approved, "qa", "ok"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		variant string
		want    int
	}{{"int8", 2}, {"float", 3}, {"", 3}} {
		if v, note := prepared(tt.variant); v != tt.want {
			t.Errorf("variant %q prepared version %d (%s); want %d", tt.variant, v, note, tt.want)
		}
	}
	if _, note := prepared("fp16"); !strings.Contains(note, `variant "fp16": use int8 or float`) {
		t.Errorf("unknown variant: %q", note)
	}
}

// registerInt8 registers the sample model marked as quantized (its ONNX
// metadata) as a version derived from parent.
func registerInt8(t *testing.T, e *Engine, group string, parent int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "samples", "models", "sample-tiny.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	pb := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, pb); err != nil {
		t.Fatal(err)
	}
	pb.MetadataProps = append(pb.MetadataProps, &onnxpb.StringStringEntryProto{
		Key: proto.String(vise.QuantizationMetadataKey), Value: proto.String(`{"method":"minmax"}`)})
	b, _ = proto.Marshal(pb)
	art, err := e.reg.Upload(ctx, bytes.NewReader(b), int64(len(b)), "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.reg.RegisterModel(ctx, group, vise.RegisterModelRequest{SHA256: art.SHA256,
		Lineage: vise.Lineage{ParentVersion: parent}, Metrics: map[string]float64{"map50": 0.5, "parent_map50": 0.5}}, "test")
	if err != nil {
		t.Fatal(err)
	}
}
