package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vise-edge/vise/infer"
)

// vise sim: simulated agents enroll for real, connect over mTLS MQTT, take
// a signed deployment and report RUNNING; their synthetic results arrive.
func TestSim(t *testing.T) {
	e := startServer(t)
	e.component("sim.model", "1.0.0", "model bytes", "")
	out, prog, code := e.vise("sim", "--devices", "5", "--device-server", e.deviceURL, "--deploy", "sim.model@1.0.0",
		"--results-per-sec", "5", "--duration", "2s", "-o", "json")
	if code != 0 {
		t.Fatalf("vise sim: exit %d: %s", code, prog)
	}
	// Progress goes to stderr, each phase's last word included; the
	// report alone is on stdout.
	for _, want := range []string{"5 of 5 devices up", "5 of 5 devices done"} {
		if !strings.Contains(prog, want) {
			t.Errorf("stderr %q does not say %q", prog, want)
		}
	}
	var rep SimReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Devices != 5 || rep.Reached != 5 || rep.RunningP50MS <= 0 || rep.RunningMaxMS < rep.RunningP50MS || len(rep.Failures) != 0 {
		t.Errorf("report = %+v", rep)
	}
	if p := rep.Phases; p == nil || p.DownloadP50MS <= 0 || p.SimCPUSeconds <= 0 || p.ServerCPUSeconds <= 0 {
		t.Errorf("phases = %+v, want the rollout's phases and the CPU both processes spent on it", p)
	}
	if rs := e.results(""); len(rs) == 0 || rs[0].Component != "vise.sim" {
		t.Errorf("no synthetic results stored (%d)", len(rs))
	}
}

// vise sim --direct: results go straight to the broker at QoS 1, each one
// in the real result schema with its own message id; every one offered is
// acknowledged and counted stored by the server.
func TestSimDirect(t *testing.T) {
	e := startServer(t)
	out := e.ok("sim", "--devices", "3", "--device-server", e.deviceURL, "--direct", "--results-per-sec", "20",
		"--duration", "2s", "--group", "direct", "-o", "json")
	var rep SimReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	ing := rep.Ingest
	if ing == nil || ing.Offered < 60 || ing.Acknowledged != ing.Offered || ing.NotAcknowledged != 0 || ing.Stored != ing.Offered ||
		ing.LatencyP50MS <= 0 || ing.LatencyP99MS < ing.LatencyP50MS || ing.StoredPerSec <= 0 || rep.ResultsQueued != int(ing.Offered) {
		t.Fatalf("ingest report = %+v", ing)
	}
	// The raw INSERT baseline stored the same number of rows, in batches
	// of the server's average size.
	if b := ing.Baseline; b == nil || b.DB != "sqlite" || b.Rows != int(ing.Stored) || ing.AverageBatch < 1 || b.BatchSize != int(ing.AverageBatch+0.5) ||
		b.RowsPerSec <= 0 || b.StoredRatio <= 0 {
		t.Fatalf("baseline = %+v (average batch %g)", b, ing.AverageBatch)
	}
	seen := map[string]bool{}
	for _, r := range e.results("") {
		var res infer.Result
		if err := json.Unmarshal(r.Payload, &res); err != nil || res.Schema != infer.Schema || res.Device != r.Device ||
			res.Component != "vise.sim" || res.Image.Width == 0 || res.InferredAt.IsZero() {
			t.Fatalf("stored result %s of %s is not a schema-1 result: %v %s", r.MsgID, r.Device, err, r.Payload)
		}
		seen[r.Device+"/"+r.MsgID] = true
	}
	if int64(len(seen)) != ing.Stored {
		t.Errorf("%d distinct results stored, the server counted %d", len(seen), ing.Stored)
	}
}

func TestSimDirectNeedsRateAndDuration(t *testing.T) {
	e := noServer(t)
	for _, args := range [][]string{{"--results-per-sec", "10"}, {"--duration", "1s"}, {"--results-per-sec", "10", "--duration", "1s", "--in-flight", "0"}} {
		e.fails(2, "--direct needs --results-per-sec and --duration", append([]string{"sim", "--direct"}, args...)...)
	}
}
