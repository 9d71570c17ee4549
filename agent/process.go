package agent

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vise-edge/vise"
)

// Component states, as reported.
const (
	StateNew       = "NEW"
	StateInstalled = "INSTALLED"
	StateStarting  = "STARTING"
	StateRunning   = "RUNNING"
	StateErrored   = "ERRORED"
	StateBroken    = "BROKEN"
	StateFinished  = "FINISHED"
)

// proc supervises one component's run step: its own process group,
// restarts with backoff and jitter, SIGTERM then SIGKILL on stop, always
// reaped.
type proc struct {
	name    string
	script  string
	dir     string
	env     []string
	grace   time.Duration
	log     *slog.Logger
	pidFile string // records the process group for cleanup after a crash

	mu       sync.Mutex
	state    string
	cmd      *exec.Cmd
	started  time.Time
	restarts int
	stopping bool
	done     chan struct{}
}

const maxRestarts = 5

func (p *proc) start() {
	p.done = make(chan struct{})
	p.setState(StateStarting)
	go p.supervise()
}

func (p *proc) setState(s string) {
	p.mu.Lock()
	p.state = s
	p.mu.Unlock()
}

func (p *proc) State() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

func (p *proc) supervise() {
	defer close(p.done)
	for {
		cmd := exec.Command("/bin/sh", "-c", p.script)
		cmd.Dir, cmd.Env = p.dir, p.env
		// Own process group, so stop reaches the whole tree; killed with the
		// agent if it dies (Pdeathsig), and recorded so a restarted agent
		// can clean up after a kill -9 (killStale).
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		cmd.Stdout, cmd.Stderr = logWriter{p.log, slog.LevelInfo}, logWriter{p.log.With("stream", "stderr"), slog.LevelInfo}
		p.mu.Lock()
		if p.stopping {
			p.mu.Unlock()
			return
		}
		err := cmd.Start()
		p.cmd, p.started = cmd, time.Now()
		p.mu.Unlock()
		if err == nil && p.pidFile != "" {
			os.WriteFile(p.pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
		}
		if err == nil {
			err = cmd.Wait() // always reaped: no zombies
			if p.pidFile != "" {
				os.Remove(p.pidFile)
			}
		}
		p.mu.Lock()
		stopping := p.stopping
		if time.Since(p.started) > time.Minute {
			p.restarts = 0 // it ran for a while: a fresh crash, not a crash loop
		}
		p.restarts++
		n := p.restarts
		p.mu.Unlock()
		if stopping {
			p.setState(StateFinished)
			return
		}
		p.log.Warn("component exited", "err", err, "restarts", n)
		if n > maxRestarts {
			p.setState(StateBroken)
			return
		}
		p.setState(StateErrored)
		backoff := time.Duration(1<<min(n, 5)) * 100 * time.Millisecond
		time.Sleep(backoff + time.Duration(rand.Int64N(int64(backoff/2+1))))
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after the grace
// period, and waits for the supervisor to finish.
func (p *proc) stop() {
	p.mu.Lock()
	p.stopping = true
	cmd := p.cmd
	p.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
			return
		case <-time.After(p.grace):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	<-p.done
}

// runStep runs an install or health script to completion within timeout,
// killing its whole process group if it overruns.
func runStep(ctx context.Context, script, dir string, env []string, timeout time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		// A step that fails on the device is a runtime failure, not bad
		// input: the deployment document was valid.
		return vise.Errorf(vise.CodeInternal, "timed out after %s", timeout)
	}
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 300 {
			msg = msg[len(msg)-300:]
		}
		return vise.Errorf(vise.CodeInternal, "%w: %s", err, msg)
	}
	return nil
}

type logWriter struct {
	log   *slog.Logger
	level slog.Level
}

func (w logWriter) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		w.log.Log(context.Background(), w.level, line)
	}
	return len(b), nil
}

func (a *Agent) componentEnv(gen string, r *vise.Recipe) []string {
	name, deps := r.Name, r.DependencyNames()
	work := a.workDir(name)
	env := append(os.Environ(),
		"VISE_DEVICE="+a.cfg.Name,
		"VISE_COMPONENT="+name,
		"VISE_COMPONENT_VERSION="+r.Version, // provenance of the results it sends
		"VISE_ARTIFACTS="+gen+"/"+name+"/artifacts",
		"VISE_CONFIG="+gen+"/"+name+"/config.json",
		"VISE_WORK="+work,
	)
	for _, d := range deps {
		env = append(env, fmt.Sprintf("VISE_DEP_%s_ARTIFACTS=%s/%s/artifacts", envName(d), gen, d))
	}
	if a.ipc != nil {
		env = append(env, "VISE_IPC="+a.ipc.Addr(), "VISE_IPC_TOKEN="+a.ipc.Token())
	}
	return env
}

func envName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r - 32
		}
		if r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, s)
}

// killStale kills process groups a previous agent run left behind (after a
// kill -9 the children of a dead agent may live on). A recorded pid counts
// only if that process still carries this agent's work directory in its
// environment, so a reused pid is never hit.
func killStale(runDir, workDir string, log *slog.Logger) {
	files, _ := filepath.Glob(filepath.Join(runDir, "*.pid"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err == nil && pid > 1 && strings.Contains(string(env), "VISE_WORK="+workDir) {
			if syscall.Kill(-pid, syscall.SIGKILL) == nil {
				log.Warn("killed a component left over from a previous agent run", "pid", pid, "file", filepath.Base(f))
			}
		}
		os.Remove(f)
	}
}
