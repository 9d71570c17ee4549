package agent

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vise-edge/vise/deviceapi"
)

// candidate is a new agent binary running beside this agent to prove it
// can take over.
type candidate struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// startCandidate runs bin --candidate as a child of this agent and waits
// until it reports ready on the local IPC endpoint (as the component
// vise.agent), exits, or timeout passes; it is killed in the two latter
// cases. The child dies with this agent (Pdeathsig) and is recorded in
// run/ like a component, so a restarted agent kills a leftover one.
func (a *Agent) startCandidate(ctx context.Context, bin string, timeout time.Duration) (*candidate, error) {
	if a.ipc == nil {
		return nil, fmt.Errorf("cannot be checked: the agent runs without its local IPC endpoint")
	}
	a.onComponentStatus(deviceapi.AgentComponent, []byte(`{"ready": false}`))
	work := a.workDir(deviceapi.AgentComponent)
	os.MkdirAll(work, 0o700)
	os.MkdirAll(a.path("run"), 0o700)
	c := &candidate{exited: make(chan struct{})}
	c.cmd = exec.Command(bin, "--data", a.cfg.DataDir, "--candidate")
	c.cmd.Env = append(os.Environ(), "VISE_COMPONENT="+deviceapi.AgentComponent, "VISE_WORK="+work,
		"VISE_IPC="+a.ipc.Addr(), "VISE_IPC_TOKEN="+a.ipc.Token())
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	tail := &tailBuffer{max: 1024}
	logs := logWriter{a.log.With("component", deviceapi.AgentComponent, "candidate", true), slog.LevelInfo}
	c.cmd.Stdout, c.cmd.Stderr = io.MultiWriter(tail, logs), io.MultiWriter(tail, logs)
	pidFile := a.path("run", deviceapi.AgentComponent+".pid")
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("does not start: %w", err)
	}
	os.WriteFile(pidFile, []byte(strconv.Itoa(c.cmd.Process.Pid)), 0o600)
	go func() {
		c.err = c.cmd.Wait()
		os.Remove(pidFile)
		close(c.exited)
	}()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.exited:
			return nil, fmt.Errorf("exited before it reported healthy (%v): %s", c.err, tail.String())
		case <-ctx.Done():
			c.kill()
			return nil, fmt.Errorf("was stopped: %w", ctx.Err())
		case <-deadline.C:
			c.kill()
			return nil, fmt.Errorf("did not report healthy within %s (it must reach the server's device API and broker with this device's certificate): %s", timeout, tail.String())
		case <-tick.C:
			if a.isReady(deviceapi.AgentComponent) {
				return c, nil
			}
		}
	}
}

func (c *candidate) kill() {
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.exited
}

// stop ends a candidate that proved itself: SIGTERM, SIGKILL after 5 s.
func (c *candidate) stop() {
	syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
		c.kill()
	}
}

// tailBuffer keeps the last max bytes written to it: the candidate's last
// words, for the failure reason.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.Join(strings.Fields(string(t.b)), " ")
	if s == "" {
		return "no output"
	}
	return s
}

// elfMachines are the ELF e_machine values of the architectures Go builds
// for Linux.
var elfMachines = map[string]uint16{"386": 3, "amd64": 62, "arm": 40, "arm64": 183, "riscv64": 243, "ppc64le": 21, "s390x": 22, "loong64": 258}

// checkArch refuses a binary that is not an ELF executable for this
// device's architecture before it is started: with binfmt emulation
// installed, a foreign one could even run, slowly.
func checkArch(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	hdr := make([]byte, 20)
	if _, err := io.ReadFull(f, hdr); err != nil || !bytes.Equal(hdr[:4], []byte("\x7fELF")) {
		return fmt.Errorf("the binary is not an ELF executable (a vise-agent build for linux/%s is)", runtime.GOARCH)
	}
	var order binary.ByteOrder = binary.LittleEndian
	if hdr[5] == 2 {
		order = binary.BigEndian
	}
	got := order.Uint16(hdr[18:20])
	if want := elfMachines[runtime.GOARCH]; got != want {
		arch := fmt.Sprintf("ELF machine %d", got)
		for name, m := range elfMachines {
			if m == got {
				arch = name
			}
		}
		return fmt.Errorf("the binary is built for %s, this device is linux/%s: publish the %s build (GOARCH=%s)", arch, runtime.GOARCH, runtime.GOARCH, runtime.GOARCH)
	}
	return nil
}
