package vise_test

import (
	"encoding/json"
	"testing"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/deviceapi"
)

// Typed states keep the wire form: each state encodes, in the message that
// carries it, to the same bytes as the plain string did.
func TestStatesEncodeAsPlainStrings(t *testing.T) {
	enc := func(v any) string {
		t.Helper()
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		got  any
		want string
	}{
		{vise.DeploymentInProgress, `"IN_PROGRESS"`},
		{vise.DeploymentSucceeded, `"SUCCEEDED"`},
		{vise.DeploymentFailed, `"FAILED"`},
		{vise.DeploymentCanceled, `"CANCELED"`},
		{vise.DeploymentSuperseded, `"SUPERSEDED"`},
		{vise.DevicePending, `"PENDING"`},
		{vise.DeviceDownloading, `"DOWNLOADING"`},
		{vise.DeviceInstalling, `"INSTALLING"`},
		{vise.DeviceRunning, `"RUNNING"`},
		{vise.DeviceFailed, `"FAILED"`},
		{vise.DeviceRolledBack, `"ROLLED_BACK"`},
		{vise.DeviceCanceled, `"CANCELED"`},
		{vise.DeviceSuperseded, `"SUPERSEDED"`},
		{vise.ExecutionRunning, `"RUNNING"`},
		{vise.ExecutionSucceeded, `"SUCCEEDED"`},
		{vise.ExecutionFailed, `"FAILED"`},
		{vise.ExecutionCanceled, `"CANCELED"`},
		{vise.StepWaiting, `"WAITING"`},
		// In the messages that carry them.
		{vise.DeviceDeployment{Device: "cam-1", State: vise.DeviceFailed},
			`{"device":"cam-1","state":"FAILED","updated_at":"0001-01-01T00:00:00Z"}`},
		{deviceapi.Status{Deployment: "d1", State: deviceapi.DeviceRolledBack},
			`{"generation":0,"deployment":"d1","state":"ROLLED_BACK"}`},
		{vise.StepRun{Step: "s", Status: vise.StepWaiting},
			`{"seq":0,"step":"s","action":"","status":"WAITING","attempts":0,"started_at":"0001-01-01T00:00:00Z"}`},
	} {
		if got := enc(tc.got); got != tc.want {
			t.Errorf("%#v encodes to %s, want %s", tc.got, got, tc.want)
		}
	}
	var d vise.Deployment
	if err := json.Unmarshal([]byte(`{"status":"FAILED","devices":[{"state":"RUNNING"}]}`), &d); err != nil ||
		d.Status != vise.DeploymentFailed || d.Devices[0].State != vise.DeviceRunning {
		t.Errorf("decoded %+v (%v); want FAILED with a RUNNING device", d, err)
	}
	var x vise.Execution
	if err := json.Unmarshal([]byte(`{"status":"SUCCEEDED"}`), &x); err != nil || x.Status != vise.ExecutionSucceeded {
		t.Errorf("decoded %+v (%v); want SUCCEEDED", x, err)
	}
}
