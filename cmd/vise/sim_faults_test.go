package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vise-edge/vise/faults"
)

// The short fault rehearsal: 20 agents under every kind of fault while a
// deployment rolls out and results flow. Nothing published is lost or
// stored twice, the deployment converges, and each fault did what it says
// (a rehearsal whose faults do nothing would pass the first two).
func TestSimFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the rehearsal runs about a minute; skipped with -short")
	}
	e := noServer(t)
	// The 10 % link cut starts well after the server kill: agents come back
	// with jittered backoff (up to 3 s), and a cut fires only on live links.
	spec := "server-kill@500ms,skew:+2h:dev=5@1s,linkcut:10%@6s+5s,diskfull:dev=0@6s+5s,broker-restart@13s,linkcut:all@17s+3s," +
		"agent-kill:phase=download,agent-kill:phase=install,agent-kill:phase=switch,agent-kill:phase=health"
	out, prog, code := e.vise("sim", "--devices", "20", "--faults", spec, "--duration", "22s", "--drain", "90s",
		"--fleet-results-per-sec", "40", "--artifact-size", "262144", "--sim-data", t.TempDir(), "-o", "json")
	if code != 0 {
		t.Fatalf("vise sim --faults: exit %d: %s", code, prog)
	}
	// Progress on stderr: the fleet coming up, each timed fault, the end.
	for _, want := range []string{"20 of 20 devices up", "server-kill@500ms: begins", "linkcut:all@17s+3s: ends", "deployment: 20 running, 0 failed, 0 on their way"} {
		if !strings.Contains(prog, want) {
			t.Errorf("stderr does not say %q:\n%s", want, prog)
		}
	}
	var rep faults.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("published %d, stored %d, redelivered %d; recover max %.1fs", rep.Published, rep.Stored, rep.Redelivered, rep.RecoverMaxSeconds)
	for _, f := range rep.Faults {
		t.Logf("%s: %v", f.Fault, f.Effect)
	}
	if rep.Lost != 0 || rep.Duplicated != 0 || rep.Unexpected != 0 || rep.Stored != rep.Published || rep.Published < 400 {
		t.Errorf("results: published %d, stored %d, lost %d, duplicated %d, unexpected %d", rep.Published, rep.Stored, rep.Lost, rep.Duplicated, rep.Unexpected)
	}
	if d := rep.Deployment; d == nil || !d.Converged || d.Running != 20 {
		t.Errorf("deployment = %+v, want all 20 running", d)
	}
	if len(rep.Faults) != 10 || !rep.Ok {
		t.Errorf("%d faults, ok %v:\n%s", len(rep.Faults), rep.Ok, out)
	}
	for _, f := range rep.Faults {
		if !f.Fired || f.RecoverSeconds < 0 {
			t.Errorf("%s: fired %v, recovered in %.1fs", f.Fault, f.Fired, f.RecoverSeconds)
		}
		if err := faultEffect(f); err != nil {
			t.Errorf("%s: %v (effect %v)", f.Fault, err, f.Effect)
		}
	}
}

// faultEffect checks the evidence a fault left, by kind.
func faultEffect(f faults.FaultOutcome) error {
	num := func(k string) float64 { v, _ := f.Effect[k].(float64); return v }
	spec, err := faults.Parse(f.Fault)
	if err != nil {
		return err
	}
	switch k := spec[0]; k.Kind {
	case faults.LinkCut:
		if num("connections_cut") == 0 || num("devices_saw_link_down") != float64(f.Devices) {
			return fmt.Errorf("want connections cut and every struck device seeing its link down")
		}
	case faults.DiskFull:
		if num("writes_refused") == 0 {
			return fmt.Errorf("the full disk refused no write")
		}
	case faults.ServerKill, faults.BrokerRestart:
		if num("pid_before") == 0 || num("pid_after") == num("pid_before") || num("devices_reconnected") < 18 {
			return fmt.Errorf("want a new server process and every device not under a link cut connected to it anew")
		}
	case faults.ClockSkew:
		if num("results_stamped_skewed") == 0 {
			return fmt.Errorf("no stored result carries the skewed clock")
		}
	case faults.AgentKill:
		if f.Effect["phase"] != string(k.Phase) || num("agent_restarts") != 1 {
			return fmt.Errorf("want the agent killed in phase %s and started once again", k.Phase)
		}
	}
	return nil
}

// Bad input: an unknown fault or a timing the run cannot have is a usage
// error (exit 2) naming the fault, before anything starts.
func TestSimFaultsRefused(t *testing.T) {
	e := noServer(t)
	used := t.TempDir()
	os.Mkdir(filepath.Join(used, "server"), 0o700)
	for _, tc := range []struct {
		want string
		args []string
	}{
		{"holds an earlier rehearsal", []string{"--faults", "server-kill@1s", "--duration", "10s", "--sim-data", used}},
		{`fault "flood@1s": unknown fault "flood"`, []string{"--faults", "linkcut@1s+1s,flood@1s", "--duration", "10s"}},
		{`fault "linkcut:10%@30s+5m": it ends at 5m30s, after the rehearsal's --duration 1m0s`, []string{"--faults", "linkcut:10%@30s+5m", "--duration", "1m"}},
		{`fault "server-kill@5s+1s": server-kill takes a start only`, []string{"--faults", "server-kill@5s+1s", "--duration", "1m"}},
		{`device 12 does not exist`, []string{"--devices", "3", "--faults", "diskfull:dev=12@1s+1s", "--duration", "1m"}},
		{"empty fault spec", []string{"--faults", "", "--duration", "1m"}},
		{"--faults needs --duration", []string{"--faults", "server-kill@1s"}},
	} {
		e.fails(2, tc.want, append([]string{"sim"}, tc.args...)...)
	}
}
