package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/internal/logbuf"
	"github.com/vise-edge/vise/procstat"
)

// The self-update tests publish these as vise.agent: a newer vise-agent,
// and broken stand-ins (testdata/fakeagent) — one that exits at once, one
// that runs and never connects, and an arm64 build.
var builds struct {
	once                  sync.Once
	err                   error
	v2, exit, hang, arm64 string
}

func updateBuilds(t testing.TB) {
	t.Helper()
	builds.once.Do(func() {
		dir := filepath.Dir(agentBin)
		b := &builds
		bs := []struct {
			out           *string
			name, pkg     string
			arch, ldflags string
		}{
			{&b.v2, "vise-agent-2", ".", "", "-X main.Version=2.0.0"},
			{&b.exit, "fake-exit", "./testdata/fakeagent", "", "-X main.mode=exit"},
			{&b.hang, "fake-hang", "./testdata/fakeagent", "", "-X main.mode=hang"},
			{&b.arm64, "fake-arm64", "./testdata/fakeagent", "arm64", "-X main.mode=hang"},
		}
		errs := make([]error, len(bs))
		var wg sync.WaitGroup
		for i, bld := range bs {
			*bld.out = filepath.Join(dir, bld.name)
			wg.Go(func() {
				cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w "+bld.ldflags, "-o", *bld.out, bld.pkg)
				cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
				if bld.arch != "" {
					cmd.Env = append(cmd.Env, "GOARCH="+bld.arch)
				}
				if out, err := cmd.CombinedOutput(); err != nil {
					errs[i] = fmt.Errorf("build %s: %w: %s", bld.name, err, out)
				}
			})
		}
		wg.Wait()
		b.err = errors.Join(errs...)
	})
	if builds.err != nil {
		t.Fatal(builds.err)
	}
}

func sha256File(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// publishAgent registers bin as vise.agent@version.
func (s *server) publishAgent(version, bin, candidateTimeout string) {
	s.t.Helper()
	recipe := fmt.Sprintf("name: vise.agent\nversion: %s\nartifacts: [{name: bin/vise-agent, file: %s, executable: true}]\n", version, bin)
	if candidateTimeout != "" {
		recipe += "configuration: {candidate_timeout: " + candidateTimeout + "}\n"
	}
	path := filepath.Join(s.t.TempDir(), "recipe.yaml")
	os.WriteFile(path, []byte(recipe), 0o644)
	if _, err := s.vise("component", "create", "-f", path); err != nil {
		s.t.Fatal(err)
	}
}

// deploy deploys components to one device and returns the deployment id.
func (s *server) deploy(device string, comps ...string) string {
	s.t.Helper()
	args := []string{"deploy", "--device", device, "-o", "json", "--device-timeout", "2m"}
	for _, c := range comps {
		args = append(args, "--component", c)
	}
	out, err := s.vise(args...)
	var d vise.Deployment
	if err == nil {
		err = json.Unmarshal([]byte(out), &d)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return d.ID
}

// outcome waits until the device reports a final state for deployment id.
// The report comes from whichever agent runs the device after the swap,
// over its own MQTT connection: it is the proof that one is connected.
func (s *server) outcome(device, id string) deviceapi.Status {
	s.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var d vise.Device
		var st deviceapi.Status
		out, err := s.vise("device", "show", device, "-o", "json")
		if err == nil && json.Unmarshal([]byte(out), &d) == nil && json.Unmarshal(d.Status, &st) == nil &&
			st.Deployment == id && (st.State == vise.DeviceRunning || st.State == vise.DeviceFailed) {
			return st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("device %s did not finish deployment %s within 90s (last status %+v)", device, id, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// device is a vise-agent process started as the package's unit starts it
// (the packaged binary, settings in the environment) and, like the unit's
// Restart=always, started again whenever it exits.
type device struct {
	t          testing.TB
	name, data string
	env        []string // the next start's environment
	logs       logbuf.Buffer

	mu       sync.Mutex
	cmd      *exec.Cmd
	starts   int
	stopping bool
	exited   chan struct{}
}

func (s *server) startDevice(name string, env ...string) *device {
	s.t.Helper()
	d := &device{t: s.t, name: name, data: filepath.Join(s.t.TempDir(), name), exited: make(chan struct{})}
	d.env = append(os.Environ(), "VISE_DEVICE_SERVER="+s.device, "VISE_ENROLL_TOKEN="+s.enrollToken(), "VISE_DEVICE_NAME="+name)
	first := append(append([]string{}, d.env...), env...)
	d.mu.Lock()
	d.start(first)
	d.mu.Unlock()
	s.t.Cleanup(d.stop)
	s.reported(name)
	return d
}

// start runs the agent; d.mu is held.
func (d *device) start(env []string) {
	cmd := exec.Command(agentBin, "--reconcile", "1s", "--data", d.data)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &d.logs, &d.logs
	if err := cmd.Start(); err != nil {
		d.t.Error(err)
		close(d.exited)
		return
	}
	d.cmd = cmd
	d.starts++
	go func() {
		cmd.Wait()
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.stopping {
			close(d.exited)
			return
		}
		d.start(d.env) // restarts carry no test holds
	}()
}

func (d *device) stop() {
	d.mu.Lock()
	d.stopping = true
	cmd := d.cmd
	d.mu.Unlock()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		d.t.Errorf("agent %s did not stop within 20s of SIGTERM", d.name)
	}
	for _, p := range d.agents() { // nothing of this device may outlive the test
		d.t.Errorf("agent process %s of %s left running", p, d.name)
		var pid int
		fmt.Sscan(p, &pid)
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if d.t.Failed() {
		d.t.Logf("vise-agent %s log:\n%s", d.name, d.logs.String())
	}
}

// agents are the pids of this device's agent processes: the agent and a
// candidate, if any (both name the data directory on their command line).
func (d *device) agents() []string { return procstat.WithCmdline(d.data + "\x00") }

// waitOneAgent waits until exactly one agent process runs for the device
// and returns its pid and the binary it runs.
func (d *device) waitOneAgent() (pid int, exe string) {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pids := d.agents()
		if len(pids) == 1 {
			fmt.Sscan(pids[0], &pid)
			exe, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); !bytes.Contains(cmdline, []byte("--candidate")) {
				return pid, exe
			}
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("device %s: agent processes %v, want exactly one (not a candidate)", d.name, pids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pidOf returns the pid of the device's candidate (candidate true) or
// agent process.
func (d *device) pidOf(candidate bool) int {
	d.t.Helper()
	for _, p := range d.agents() {
		cmdline, _ := os.ReadFile("/proc/" + p + "/cmdline")
		if bytes.Contains(cmdline, []byte("--candidate")) == candidate {
			var pid int
			fmt.Sscan(p, &pid)
			return pid
		}
	}
	d.t.Fatalf("device %s: no %s process among %v", d.name, map[bool]string{true: "candidate", false: "agent"}[candidate], d.agents())
	return 0
}

// holdFile is where an agent held at a swap point waits (VISE_AGENT_TEST_HOLD).
func (d *device) holdFile(point string) string {
	return filepath.Join(d.data, "agent", "hold-"+point)
}

func (d *device) waitHeld(point string) {
	d.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(d.holdFile(point)); err == nil {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("device %s never reached swap point %s", d.name, point)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deviceRecord waits until the server's record of deployment id shows a
// final state for device and returns it (what `vise deployment show`
// prints).
func (s *server) deviceRecord(id, device string) vise.DeviceDeployment {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var d vise.Deployment
		out, err := s.vise("deployment", "show", id, "-o", "json")
		if err == nil && json.Unmarshal([]byte(out), &d) == nil {
			for _, dd := range d.Devices {
				if dd.Device == device && (dd.State == vise.DeviceRunning || dd.State == vise.DeviceFailed) {
					return dd
				}
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("deployment %s: no final state for %s within 30s (%v)", id, device, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
