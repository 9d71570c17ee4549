package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/sendback"
)

// A bad send_back section stops vise-infer at start with the field named.
func TestSendBackConfigRefused(t *testing.T) {
	needORT(t)
	src := t.TempDir()
	tests := []struct{ name, cfg, want string }{
		{"window min above max", `"send_back": {"uncertain": {"min": 0.6, "max": 0.25}}`, "send_back.uncertain.min 0.6 is above send_back.uncertain.max 0.25"},
		{"negative cap", `"send_back": {"defects": {"per_hour": -3}}`, "send_back.defects.per_hour -3"},
		{"unknown field", `"send_back": {"sample": {"rate": 0.1, "every": 3}}`, "send_back.sample.every: unknown field"},
		{"old and new settings", `"upload": "all", "send_back": {"defects": {}}`, "send_back replaces upload and upload_sample"},
		{"old setting wrong", `"upload": "some"`, `upload "some": use defects, all or none`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "config.json")
			os.WriteFile(cfg, []byte(`{"source": "`+src+`", `+tt.cfg+`}`), 0o644)
			cmd := exec.Command(bin, "run", "--model", model, "--ort-lib", ortLib)
			cmd.Env = append(os.Environ(), "VISE_IPC=", "VISE_CONFIG="+cfg)
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), tt.want) {
				t.Errorf("err %v, output %q; want exit 2 naming %q", err, out, tt.want)
			}
		})
	}
}

// Results carry why their image came back and where they came from; the
// hourly caps hold: with 2 uncertain an hour and no defects, two of six
// frames come back, the rest go without their image.
func TestSendBackPolicyInResults(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	cam := filepath.Join(dir, "cam")
	copyFile(t, filepath.Join(testdata, "tag-a.jpg"), filepath.Join(cam, "tag-a.jpg"))
	cfg := filepath.Join(dir, "config.json")
	os.WriteFile(cfg, []byte(`{"source": "`+cam+`", "replay": true, "interval": "10ms", "confidence": 0.01,
		"send_back": {"defects": {"per_hour": 0}, "uncertain": {"min": 0.01, "max": 0.99, "per_hour": 2}}}`), 0o644)
	cmd := exec.Command(bin, "run", "--model", model, "--ort-lib", ortLib, "--frames", "6")
	cmd.Env = append(os.Environ(), "VISE_IPC=", "VISE_CONFIG="+cfg, "VISE_DEVICE=line-1", "VISE_COMPONENT_VERSION=1.4.0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("vise-infer: %v", err)
	}
	var reasons []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r infer.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("result %q: %v", line, err)
		}
		if r.Device != "line-1" || r.ComponentVersion != "1.4.0" || r.Model.SHA256 == "" || r.CapturedAt.IsZero() {
			t.Errorf("provenance: device %q, component version %q, model %+v, captured %v", r.Device, r.ComponentVersion, r.Model, r.CapturedAt)
		}
		if (r.Reason != "") != (len(r.ImageData) > 0) {
			t.Errorf("reason %q with %d image bytes: an image goes back exactly when there is a reason", r.Reason, len(r.ImageData))
		}
		reasons = append(reasons, r.Reason)
	}
	want := []string{"uncertain", "uncertain", "", "", "", ""}
	if diff := cmp.Diff(want, reasons); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
}

// The counts reach the status the agent forwards, in the shape the agent
// decodes it (vise.ComponentHealth).
func TestSendBackCountsInStatus(t *testing.T) {
	c, err := sendback.Parse([]byte(`{"sample": {"rate": 1, "per_hour": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	p := sendback.New(c)
	var cs counters
	cs.sendBack = p.Counts
	for range 3 {
		p.Decide(time.Now(), nil)
	}
	var h vise.ComponentHealth
	if err := json.Unmarshal(cs.report(), &h); err != nil {
		t.Fatal(err)
	}
	want := &sendback.Counts{Sample: sendback.Count{Kept: 1, OverCap: 2}}
	if diff := cmp.Diff(want, h.SendBack); diff != "" {
		t.Errorf("status send_back (-want +got):\n%s", diff)
	}
}
