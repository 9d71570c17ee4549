package main

import (
	"os"
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
