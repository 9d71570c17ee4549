package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/agent"
)

// A deployment of vise.agent replaces the running agent: the new binary
// proves itself as a candidate, then takes over in the same process (the
// service's main process stays), and the swap's timings are recorded.
func TestSelfUpdate(t *testing.T) {
	updateBuilds(t)
	s := startServer(t)
	s.publishAgent("2.0.0", builds.v2, "")
	newSHA := sha256File(t, builds.v2)

	t.Run("takes over", func(t *testing.T) {
		s := s.with(t)
		d := s.startDevice("swap-ok")
		pid, exe := d.waitOneAgent()
		if exe != agentBin {
			t.Fatalf("before the update the agent runs %s, want the packaged %s", exe, agentBin)
		}
		st := s.outcome(d.name, s.deploy(d.name, "vise.agent@2.0.0"))
		if st.State != vise.DeviceRunning {
			t.Fatalf("deployment %s: %s", st.State, st.Message)
		}
		gotPID, gotExe := d.waitOneAgent()
		if gotPID != pid || filepath.Base(gotExe) != newSHA {
			t.Errorf("after the update: pid %d running %s; want pid %d (the same process) running agent/bin/%s", gotPID, gotExe, pid, newSHA)
		}
		tm, ok, err := agent.LoadSwapTimings(d.data)
		if err != nil || !ok || tm.CandidateMS <= 0 || tm.TakeoverMS <= 0 {
			t.Fatalf("swap timings %+v, %v, %v", tm, ok, err)
		}
		t.Logf("swap timings: download+verify %.1f ms, candidate start to healthy %.1f ms, takeover %.1f ms",
			tm.DownloadVerifyMS, tm.CandidateMS, tm.TakeoverMS)
		// Deployed again (same binary): nothing to swap, it just runs.
		if st := s.outcome(d.name, s.deploy(d.name, "vise.agent@2.0.0")); st.State != vise.DeviceRunning {
			t.Errorf("the same agent again: %s: %s", st.State, st.Message)
		}
	})

	// kill -9 of either process at each point of the swap leaves exactly
	// one agent, connected (it reports the outcome), on the binary the
	// commit point says.
	for _, tc := range []struct {
		point     string
		candidate bool // kill the candidate, else the agent
		wantNew   bool
		reason    string
	}{
		{"candidate-starting", true, false, "exited before it reported healthy (signal: killed)"},
		{"candidate-starting", false, false, "interrupted before the new agent took over"},
		{"candidate-healthy", true, true, ""},
		{"candidate-healthy", false, false, "interrupted before the new agent took over"},
		{"committed", false, true, ""},
		{"taking-over", false, true, ""},
	} {
		who := map[bool]string{true: "candidate", false: "agent"}[tc.candidate]
		t.Run("kill "+who+" at "+tc.point, func(t *testing.T) {
			s := s.with(t)
			d := s.startDevice("kill-"+who+"-"+tc.point, "VISE_AGENT_TEST_HOLD="+tc.point)
			id := s.deploy(d.name, "vise.agent@2.0.0")
			d.waitHeld(tc.point)
			syscall.Kill(d.pidOf(tc.candidate), syscall.SIGKILL)
			os.Remove(d.holdFile(tc.point)) // lets a held survivor go on
			st := s.outcome(d.name, id)
			_, exe := d.waitOneAgent()
			if isNew := filepath.Base(exe) == newSHA; isNew != tc.wantNew {
				t.Errorf("the agent runs %s; want the new binary: %v", exe, tc.wantNew)
			}
			want := map[bool]vise.DeviceState{true: vise.DeviceRunning, false: vise.DeviceFailed}[tc.wantNew]
			if st.State != want || !strings.Contains(st.Message, tc.reason) {
				t.Errorf("deployment %s (%q); want %s with %q", st.State, st.Message, want, tc.reason)
			}
		})
	}

	// Bad binaries: the deployment fails with the reason, the old agent
	// stays and keeps reporting.
	for _, tc := range []struct {
		name, version, timeout string
		bin                    *string
		reason                 string
	}{
		{"wrong architecture", "9.0.1", "", &builds.arm64, "the binary is built for arm64, this device is linux/amd64"},
		{"does not start", "9.0.2", "", &builds.exit, "exited before it reported healthy (exit status 3): fakeagent: broken build"},
		{"never connects", "9.0.3", "3s", &builds.hang, "did not report healthy within 3s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := s.with(t)
			s.publishAgent(tc.version, *tc.bin, tc.timeout)
			d := s.startDevice("bad-" + tc.version[4:])
			id := s.deploy(d.name, "vise.agent@"+tc.version)
			st := s.outcome(d.name, id)
			if st.State != vise.DeviceFailed || !strings.Contains(st.Message, tc.reason) {
				t.Errorf("deployment %s (%q); want FAILED with %q", st.State, st.Message, tc.reason)
			}
			if rec := s.deviceRecord(id, d.name); rec.State != vise.DeviceFailed || !strings.Contains(rec.Message, tc.reason) {
				t.Errorf("vise deployment show: %s (%q); want FAILED with %q", rec.State, rec.Message, tc.reason)
			}
			if _, exe := d.waitOneAgent(); exe != agentBin {
				t.Errorf("after the failed update the agent runs %s, want %s", exe, agentBin)
			}
		})
	}
}

// with is the server as seen from subtest t (cleanups and failures go to t).
func (s *server) with(t testing.TB) *server {
	c := *s
	c.t = t
	return &c
}
