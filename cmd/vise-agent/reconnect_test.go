package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vise-edge/vise"
)

// A deployment announced while a device is cut off reaches it anyway, even
// when the announcement is gone by the time it is back: here the agent is
// frozen while the server restarts, the deployment is announced (retained
// for the device), and the server restarts once more, which loses the
// retained announcement. The agent's reconcile tick is an hour away; it
// asks the server when it reconnects.
func TestDeploymentAnnouncedWhileDisconnected(t *testing.T) {
	data := t.TempDir()
	addrs := freeAddrs(t, 3)
	s := startServerOn(t, data, addrs[0], addrs[1], addrs[2])
	agent := s.startAgentWith("away", []string{"--reconcile", "1h"})
	s.reported("away")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "model.bin"), []byte("weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	recipe := filepath.Join(dir, "recipe.yaml")
	os.WriteFile(recipe, fmt.Appendf(nil, "name: line.model\nversion: 1.0.0\nartifacts: [{name: model.bin, file: %s}]\n", filepath.Join(dir, "model.bin")), 0o644)
	if _, err := s.vise("component", "create", "-f", recipe); err != nil {
		t.Fatal(err)
	}

	pid := agent.Process.Pid
	syscall.Kill(pid, syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) }) // runs before the agent's stop
	stop(t, s.proc)
	s = startServerOn(t, data, addrs[0], addrs[1], addrs[2])
	id := s.deploy("away", "line.model@1.0.0")
	stop(t, s.proc)
	s = startServerOn(t, data, addrs[0], addrs[1], addrs[2])
	syscall.Kill(pid, syscall.SIGCONT)

	if st := s.outcome("away", id); st.State != vise.DeviceRunning {
		t.Errorf("deployment %s: %s (%s)", id, st.State, st.Message)
	}
}
