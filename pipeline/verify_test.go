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
		want     string
	}{
		{"results of the old model", true, vise.ExecutionFailed},
		{"results of the new model", false, vise.ExecutionSucceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, store.SQLite, 20*time.Millisecond)
			registerSample(t, e, "tags")
			mv, err := e.reg.Decide(ctx, "tags", 1, vise.Approved, "qa", "ok")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.fleet.CreateDevice(ctx, vise.CreateDeviceRequest{Name: "cam-1"}); err != nil {
				t.Fatal(err)
			}
			apply(t, e, `name: p
params: {model: {required: true}, target: {required: true}, inference: {default: ""}}
steps:
  - {name: prepare, action: prepare-model, next: deploy}
  - {name: deploy, action: deploy, next: verify}
  - {name: verify, action: verify, with: {min_results: 3}, timeout: 3s}
`)
			x, err := e.Run(ctx, "p", map[string]string{"model": "tags", "target": "device:cam-1"}, "test")
			if err != nil {
				t.Fatal(err)
			}
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
