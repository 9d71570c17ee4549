package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vise-edge/vise"
)

// componentProcs counts live processes of a component started by the agent
// with this data directory.
func componentProcs(a *agentProc, component string) int {
	want := "VISE_WORK=" + filepath.Join(a.data, "work", component) + "\x00"
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && strings.Contains(string(env), want) {
			stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if !strings.Contains(string(stat), ") Z ") { // zombies are counted elsewhere
				n++
			}
		}
	}
	return n
}

// kill -9 of the agent in the middle of a deployment, then a restart:
// the device converges on one consistent generation with one copy of each
// component, and stopping the agent leaves no orphans.
func TestAgentCrashConverges(t *testing.T) {
	e := startServer(t)
	run := "  run: {script: \"exec ./artifacts/run.sh\"}\n"
	e.component("vise.inspect", "1.0.0", "#!/bin/sh\nexec sleep 600\n", run)
	a := e.startAgent("cam-1", "")
	first := e.deployTo("cam-1", "vise.inspect@1.0.0")
	if st := e.awaitDeployment("cam-1", first); st.State != vise.DeviceRunning {
		t.Fatalf("first deployment: %+v", st)
	}
	e.component("vise.inspect", "1.1.0", "#!/bin/sh\n# 1.1\nexec sleep 600\n", run+"  install: {script: \"sleep 2\"}\n")
	second := e.deployTo("cam-1", "vise.inspect@1.1.0")
	e.waitFor("the agent to start installing", 30*time.Second, func() bool {
		st := e.status("cam-1")
		return st.Deployment == second && st.State == vise.DeviceInstalling
	})
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.cmd.Wait()

	e.runAgent(a, "cam-1")
	st := e.awaitDeployment("cam-1", second)
	if st.State != vise.DeviceRunning {
		t.Fatalf("after kill -9 and restart: %+v", st)
	}
	link, err := os.Readlink(filepath.Join(a.data, "current"))
	if err != nil || filepath.Base(link) != itoa(st.Generation) {
		t.Errorf("current -> %q (%v), reported generation %d", link, err, st.Generation)
	}
	if n := componentProcs(a, "vise.inspect"); n != 1 {
		t.Errorf("%d copies of vise.inspect running, want exactly 1", n)
	}
	tmps, _ := filepath.Glob(filepath.Join(a.data, "generations", "*.tmp"))
	if len(tmps) != 0 {
		t.Errorf("half-prepared generations left: %v", tmps)
	}

	a.cmd.Process.Signal(syscall.SIGTERM)
	a.cmd.Wait()
	if n := componentProcs(a, "vise.inspect"); n != 0 {
		t.Errorf("%d component processes outlived the agent", n)
	}
	e.runAgent(a, "cam-1") // so the cleanup has a process to stop
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A newer deployment cancels one still being applied: the device does not
// wait for the old one's (here endless) install step.
func TestAgentSupersedesInProgress(t *testing.T) {
	e := startServer(t)
	run := "  run: {script: \"exec ./artifacts/run.sh\"}\n"
	e.component("vise.inspect", "1.0.0", "#!/bin/sh\nexec sleep 600\n", run+"  install: {script: \"exec sleep 600\", timeout: 20m}\n")
	e.component("vise.inspect", "1.1.0", "#!/bin/sh\n# 1.1\nexec sleep 600\n", run)
	e.startAgent("cam-1", "")
	var d vise.Deployment
	jsonUnmarshal(t, e.ok("deploy", "--device", "cam-1", "--component", "vise.inspect@1.0.0", "--device-timeout", "10m", "-o", "json"), &d)
	e.waitFor("the first deployment to be installing", 30*time.Second, func() bool {
		st := e.status("cam-1")
		return st.Deployment == d.ID && st.State == vise.DeviceInstalling
	})
	second := e.deployTo("cam-1", "vise.inspect@1.1.0")
	if st := e.awaitDeployment("cam-1", second); st.State != vise.DeviceRunning {
		t.Fatalf("newer deployment: %+v", st)
	}
	var first vise.Deployment
	jsonUnmarshal(t, e.ok("deployment", "show", d.ID, "-o", "json"), &first)
	if first.Status != vise.DeploymentSuperseded {
		t.Errorf("first deployment status = %s, want SUPERSEDED", first.Status)
	}
}

func jsonUnmarshal(t testing.TB, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v in %s", err, s)
	}
}

// A full disk on the device fails the deployment with a clear reason and
// leaves the running generation alone.
func TestAgentDiskFull(t *testing.T) {
	e := startServer(t)
	dir := filepath.Join(t.TempDir(), "small")
	os.MkdirAll(dir, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	run := "  run: {script: \"exec ./artifacts/run.sh\"}\n"
	e.component("vise.inspect", "1.0.0", "#!/bin/sh\nexec sleep 600\n", run)
	big := "#!/bin/sh\n# " + strings.Repeat("x", 4<<20) + "\nexec sleep 600\n"
	e.component("vise.inspect", "2.0.0", big, run)

	a := &agentProc{data: filepath.Join(dir, "agent"), log: &bytes.Buffer{}}
	var tok struct{ Token string }
	jsonUnmarshal(t, e.ok("device", "token", "create", "-o", "json"), &tok)
	e.runAgent(a, "cam-1", "--token", tok.Token)
	e.waitFor("cam-1 to enroll", 30*time.Second, func() bool { return deviceSeen(e, "cam-1") })
	if st := e.awaitDeployment("cam-1", e.deployTo("cam-1", "vise.inspect@1.0.0")); st.State != vise.DeviceRunning {
		t.Fatalf("small deployment: %+v", st)
	}
	st := e.awaitDeployment("cam-1", e.deployTo("cam-1", "vise.inspect@2.0.0"))
	if st.State != vise.DeviceFailed || !strings.Contains(st.Message, "no space left on device") {
		t.Errorf("deployment on a full disk: state %s, message %q", st.State, st.Message)
	}
	if st.Generation != 1 || st.Components["vise.inspect"] != "RUNNING" {
		t.Errorf("after a full disk: generation %d, components %v", st.Generation, st.Components)
	}
	if n := componentProcs(a, "vise.inspect"); n != 1 {
		t.Errorf("%d copies of the old component running, want 1", n)
	}
}
