package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Memory budgets per connected, idle device (issue 16): the simulator
// 150 KB, the server 100 KB, so 10,000 devices fit one machine. Measured
// from a few hundred devices as the rise in resident memory over the
// value before they came, per device.
const (
	simBudgetPerDevice    = 150_000
	serverBudgetPerDevice = 100_000
)

func TestSimMemoryPerDevice(t *testing.T) {
	e := startServer(t)
	out := e.ok("sim", "--devices", "500", "--device-server", e.deviceURL, "--idle", "3s", "--group", "mem", "-o", "json")
	var rep SimReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	m := rep.Idle
	if m == nil || m.SimBytesPerDevice <= 0 || m.ServerBytesPerDevice <= 0 || m.ServerRSSBytes <= 0 || m.IdleSeconds < 3 {
		t.Fatalf("idle report = %+v", m)
	}
	t.Logf("per device: simulator %.0f B, server %.0f B; server idle CPU %.3f cores", m.SimBytesPerDevice, m.ServerBytesPerDevice, m.ServerIdleCPU)
	if m.SimBytesPerDevice > simBudgetPerDevice {
		t.Errorf("simulator: %.0f bytes per device, budget %d", m.SimBytesPerDevice, simBudgetPerDevice)
	}
	if m.ServerBytesPerDevice > serverBudgetPerDevice {
		t.Errorf("server: %.0f bytes per connected idle device, budget %d", m.ServerBytesPerDevice, serverBudgetPerDevice)
	}
}

// A broker restart drops every device at once; they come back with
// jittered backoff, all of them, and the server stays up through the
// storm (the restarted server is the embedded broker's).
func TestSimReconnectStorm(t *testing.T) {
	const devices = 300
	data := t.TempDir()
	listen, devListen, mqttListen := freeAddr(t), freeAddr(t), freeAddr(t)
	e, srv := startServerOn(t, data, listen, devListen, mqttListen)
	sim := exec.Command(viseBin, "sim", "--devices", strconv.Itoa(devices), "--device-server", e.deviceURL, "--group", "storm",
		"--duration", "10m", "--drain", "0s")
	sim.Env = append(os.Environ(), "VISE_SERVER="+e.server, "VISE_DATA="+e.data, "VISE_TOKEN=")
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sim.Process.Signal(os.Interrupt)
		if !waitExit(sim, 30*time.Second) {
			t.Error("the simulator did not stop within 30s of SIGINT")
		}
	})
	connected := `vise_mqtt_clients_connected`
	e.waitFor("every simulated device connected", 3*time.Minute, func() bool { return metric(t, e, connected) == devices })
	e.waitFor("every simulated device seen", time.Minute, func() bool {
		out, _, code := e.vise("device", "list", "-o", "json")
		return code == 0 && strings.Count(out, `"last_seen_at"`) >= devices
	})

	srv.Process.Signal(os.Interrupt)
	if !waitExit(srv, 30*time.Second) {
		t.Fatal("the server did not stop within 30s of SIGINT with the fleet connected")
	}
	e2, srv2 := startServerOn(t, data, listen, devListen, mqttListen)
	// Jittered backoff spreads the storm over seconds; a device whose
	// attempts time out on a loaded machine backs off up to 2 minutes.
	start := time.Now()
	e2.waitFor("every device reconnected after the restart", 4*time.Minute, func() bool { return metric(t, e2, connected) == devices })
	t.Logf("%d devices back %.1fs after the restart", devices, time.Since(start).Seconds())
	if srv2.ProcessState != nil {
		t.Fatalf("the server exited during the reconnect storm: %v", srv2.ProcessState)
	}
	if out, _, code := e2.vise("device", "list", "-o", "json"); code != 0 {
		t.Errorf("server not answering after the storm (exit %d): %s", code, out)
	}
}

// waitExit waits for cmd to exit, killing it after within; false if it
// had to be killed.
func waitExit(cmd *exec.Cmd, within time.Duration) bool {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(within):
		cmd.Process.Kill()
		<-done
		return false
	}
}
