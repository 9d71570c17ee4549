package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vise-edge/vise"
)

// minUptime is how long a run step without a health step must stay up to
// count as healthy.
const minUptime = 2 * time.Second

// startGeneration starts components in dependency order and waits until
// each is healthy before starting its dependents.
func (a *Agent) startGeneration(ctx context.Context, gen int64, m *manifest) error {
	dir := a.genDir(gen)
	deadline := time.Now().Add(time.Duration(m.Timeout))
	if m.Timeout <= 0 {
		deadline = time.Now().Add(10 * time.Minute)
	}
	for _, r := range m.Components {
		env := a.componentEnv(dir, r)
		os.MkdirAll(a.workDir(r.Name), 0o700)
		if r.Lifecycle.Run == nil {
			a.setComponent(r.Name, StateFinished)
			continue
		}
		os.MkdirAll(a.path("run"), 0o700)
		p := &proc{name: r.Name, script: r.Lifecycle.Run.Script, dir: filepath.Join(dir, r.Name), env: env,
			grace: 10 * time.Second, log: a.log.With("component", r.Name), pidFile: a.path("run", r.Name+".pid")}
		if s := r.Lifecycle.Shutdown; s != nil && s.Timeout > 0 {
			p.grace = time.Duration(s.Timeout)
		}
		a.mu.Lock()
		a.procs = append(a.procs, p)
		a.mu.Unlock()
		a.onComponentStatus(r.Name, []byte(`{"ready": false}`)) // readiness is per start
		p.start()
		a.setComponent(r.Name, StateStarting)
		if err := a.awaitHealthy(ctx, p, r, env, deadline); err != nil {
			a.setComponent(r.Name, p.State())
			return fmt.Errorf("%s@%s did not become healthy: %w", r.Name, r.Version, err)
		}
		a.setComponent(r.Name, StateRunning)
	}
	return nil
}

func (a *Agent) awaitHealthy(ctx context.Context, p *proc, r *vise.Recipe, env []string, deadline time.Time) error {
	interval := 500 * time.Millisecond
	if h := r.Lifecycle.Health; h != nil && h.Interval > 0 {
		interval = time.Duration(h.Interval)
	}
	var last error
	for {
		switch p.State() {
		case StateBroken:
			return fmt.Errorf("its run step keeps exiting (restarted %d times)", maxRestarts)
		case StateStarting:
			if h := r.Lifecycle.Health; h != nil {
				last = runStep(ctx, h.Script, p.dir, env, stepTimeout(h, 30*time.Second), a.log)
				if last == nil {
					return nil
				}
			} else if a.isReady(r.Name) || p.upFor() >= minUptime {
				return nil
			}
		default:
			last = fmt.Errorf("its run step exited")
		}
		if time.Now().After(deadline) {
			if last == nil {
				last = fmt.Errorf("no health report")
			}
			return fmt.Errorf("deadline passed: %w", last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

func (p *proc) upFor() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.state != StateStarting {
		return 0
	}
	return time.Since(p.started)
}

func (a *Agent) setComponent(name, state string) {
	a.save(func(st *State) {
		if st.Components == nil {
			st.Components = map[string]string{}
		}
		st.Components[name] = state
	})
}

// stopAll stops running components, dependents first.
func (a *Agent) stopAll() {
	a.mu.Lock()
	procs := a.procs
	a.procs = nil
	a.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop()
		a.setComponent(procs[i].name, StateFinished)
	}
}

// resume starts the committed generation after an agent restart. The
// "current" link decides: a crash before the swap left the old one, after
// it the new one; half-prepared generations are removed.
func (a *Agent) resume(ctx context.Context) error {
	target, err := os.Readlink(a.path("current"))
	if err != nil {
		return err
	}
	var gen int64
	if _, err := fmt.Sscanf(filepath.Base(target), "%d", &gen); err != nil {
		return err
	}
	tmps, _ := filepath.Glob(a.path("generations", "*.tmp"))
	for _, t := range tmps {
		os.RemoveAll(t)
	}
	a.save(func(st *State) { st.Generation = gen })
	m, err := readManifest(a.genDir(gen))
	if err != nil {
		return err
	}
	a.log.Info("resuming generation", "generation", gen, "deployment", m.Deployment)
	if err := a.startGeneration(ctx, gen, m); err != nil {
		return err
	}
	if a.State().LastGood != gen && a.State().Deployment == m.Deployment {
		a.save(func(st *State) { st.LastGood = gen })
		a.report(ctx, m.Deployment, vise.DeviceRunning, "")
	}
	return nil
}
