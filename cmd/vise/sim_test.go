package main

import (
	"encoding/json"
	"testing"
)

// vise sim: simulated agents enroll for real, connect over mTLS MQTT, take
// a signed deployment and report RUNNING; their synthetic results arrive.
func TestSim(t *testing.T) {
	e := startServer(t)
	e.component("sim.model", "1.0.0", "model bytes", "")
	out := e.ok("sim", "--devices", "5", "--device-server", e.deviceURL, "--deploy", "sim.model@1.0.0",
		"--results-per-sec", "5", "--duration", "2s", "-o", "json")
	var rep SimReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Devices != 5 || rep.Reached != 5 || rep.RunningP50MS <= 0 || rep.RunningMaxMS < rep.RunningP50MS || len(rep.Failures) != 0 {
		t.Errorf("report = %+v", rep)
	}
	if rs := e.results(""); len(rs) == 0 || rs[0].Component != "vise.sim" {
		t.Errorf("no synthetic results stored (%d)", len(rs))
	}
}
