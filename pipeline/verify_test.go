package pipeline

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// The verify step passes a device only on results of the model just
// deployed: a device that keeps sending results of the model it ran before
// (another sha256) does not verify, and the step times out naming why. The
// same setup with results of the new model succeeds, so it is the sha256
// that makes the difference.
func TestVerifyNeedsResultsOfTheNewModel(t *testing.T) {
	for _, tc := range []struct {
		name     string
		oldModel bool
		want     vise.ExecutionState
	}{
		{"results of the old model", true, vise.ExecutionFailed},
		{"results of the new model", false, vise.ExecutionSucceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, store.SQLite, 20*time.Millisecond)
			if _, err := e.fleet.CreateDevice(ctx, vise.CreateDeviceRequest{Name: "cam-1"}); err != nil {
				t.Fatal(err)
			}
			mv, x := runVerify(t, e, "device:cam-1", "{min_results: 3}, timeout: 3s")
			var dep string
			for deadline := time.Now().Add(30 * time.Second); dep == ""; time.Sleep(20 * time.Millisecond) {
				x, _ = e.store.GetExecution(ctx, x.ID)
				if s := step(x, "verify"); s != nil {
					dep, _ = x.State["deployment"].(string)
				}
				if time.Now().After(deadline) {
					t.Fatalf("the verify step did not start: %+v", x.Steps)
				}
			}
			if err := e.store.SetDeviceState(ctx, dep, "cam-1", vise.DeviceRunning, ""); err != nil {
				t.Fatal(err)
			}
			sha := mv.Artifact.SHA256
			if tc.oldModel {
				sha = strings.Repeat("0", 63) + "1" // the model the device ran before
			}
			for i := range 5 {
				payload := fmt.Sprintf(`{"schema":1,"msg_id":"r-%d","device":"cam-1","component":"vise.inspect","model":{"name":"tags","version":"1","sha256":%q},"detections":[]}`, i, sha)
				if _, err := e.store.InsertResult(ctx, vise.Result{MsgID: fmt.Sprintf("r-%d", i), Device: "cam-1", Component: "vise.inspect", Payload: []byte(payload)}); err != nil {
					t.Fatal(err)
				}
			}
			e.Wake(ctx, dep)
			x = await(t, e, x.ID)
			if x.Status != tc.want {
				t.Fatalf("execution %s %q; want %s", x.Status, x.Error, tc.want)
			}
			if tc.oldModel && (!strings.Contains(x.Error, "step verify") || !strings.Contains(x.Error, "timed out")) {
				t.Errorf("execution error %q; want the verify step timed out", x.Error)
			}
			if tc.oldModel {
				s := step(x, "verify")
				if s == nil || !strings.Contains(string(s.Output), "0 of 3 results from the new model") {
					t.Errorf("verify step %+v; want its output to say no result came from the new model", s)
				}
			}
		})
	}
}

// verify remembers between checks: a device that passed is not read again,
// and another device's results are counted from where the last check
// stopped. Shown by pruning every result between two checks: cam-1 stays
// verified, and cam-2's one earlier result still counts toward its two.
func TestVerifyReadsIncrementally(t *testing.T) {
	e := newEngine(t, store.SQLite, 20*time.Millisecond)
	if _, err := e.fleet.CreateGroup(ctx, vise.CreateGroupRequest{Name: "line"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"cam-1", "cam-2"} {
		if _, err := e.fleet.CreateDevice(ctx, vise.CreateDeviceRequest{Name: d, Groups: []string{"line"}}); err != nil {
			t.Fatal(err)
		}
	}
	mv, x := runVerify(t, e, "group:line", "{min_results: 2}, timeout: 60s")
	verifyOutput := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			x, _ = e.store.GetExecution(ctx, x.ID)
			if s := step(x, "verify"); s != nil && strings.Contains(string(s.Output), want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the verify step's output never held %s: %+v", want, step(x, "verify"))
			}
		}
	}
	verifyOutput(`"deployment"`)
	dep, _ := x.State["deployment"].(string)
	result := func(device string, i int) {
		payload := fmt.Sprintf(`{"schema":1,"msg_id":"r-%d","model":{"sha256":%q},"detections":[]}`, i, mv.Artifact.SHA256)
		if _, err := e.store.InsertResult(ctx, vise.Result{MsgID: fmt.Sprintf("r-%d", i), Device: device, Component: "vise.inspect", Payload: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"cam-1", "cam-2"} {
		if err := e.store.SetDeviceState(ctx, dep, d, vise.DeviceRunning, ""); err != nil {
			t.Fatal(err)
		}
	}
	result("cam-1", 0)
	result("cam-1", 1)
	result("cam-2", 0)
	e.Wake(ctx, dep)
	verifyOutput(`"verified":["cam-1"]`)
	verifyOutput(`cam-2: 1 of 2 results`)

	if _, err := e.store.PruneResults(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	result("cam-2", 1)
	e.Wake(ctx, dep)
	if x = await(t, e, x.ID); x.Status != vise.ExecutionSucceeded {
		t.Fatalf("execution %s %q; want succeeded on what earlier checks counted", x.Status, x.Error)
	}
}

// runVerify approves a sample model and runs prepare → deploy → verify
// (with these settings, e.g. "{min_results: 2}, timeout: 60s") to target.
func runVerify(t *testing.T, e *Engine, target, verify string) (*vise.ModelVersion, *vise.Execution) {
	t.Helper()
	registerSample(t, e, "tags")
	mv, err := e.reg.Decide(ctx, "tags", 1, vise.Approved, "qa", "ok")
	if err != nil {
		t.Fatal(err)
	}
	apply(t, e, `name: p
params: {model: {required: true}, target: {required: true}, inference: {default: ""}}
steps:
  - {name: prepare, action: prepare-model, next: deploy}
  - {name: deploy, action: deploy, next: verify}
  - {name: verify, action: verify, with: `+verify+`}
`)
	x, err := e.Run(ctx, "p", map[string]string{"model": "tags", "target": target}, "test")
	if err != nil {
		t.Fatal(err)
	}
	return mv, x
}
