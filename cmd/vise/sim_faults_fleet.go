package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/vise-edge/vise/agent"
	"github.com/vise-edge/vise/faults"
)

// faultDevice is one simulated device under rehearsal: its agent (a new
// one after a kill), and the link, disk and clock faults act on.
type faultDevice struct {
	i         int
	name, dir string
	server    string
	disk      faults.Disk
	clock     faults.Clock
	kill      *agentKill // the agent-kill that strikes this device, if any

	mu   sync.Mutex
	ag   *agent.Agent
	link *faults.Link
	cuts int           // link cuts in force
	done chan struct{} // closed when the current agent's Run returned
	stop context.CancelFunc
}

// agentKill is an agent-kill's plan and what became of it.
type agentKill struct {
	event    faults.Event
	phase    string
	firedAt  time.Time
	restarts int
	fired    chan struct{}
}

// start runs a new agent on the device's data directory (enrolling with
// token the first time).
func (d *faultDevice) start(ctx context.Context, token string, stderr io.Writer) error {
	link := &faults.Link{}
	d.mu.Lock()
	if d.cuts > 0 {
		link.Cut()
	}
	d.mu.Unlock()
	actx, stop := context.WithCancel(ctx)
	ag, err := agent.New(agent.Config{Server: d.server, Token: token, DataDir: d.dir, Name: d.name,
		Reconcile: 5 * time.Minute, NoIPC: true, Logger: slog.New(slog.DiscardHandler),
		Dial: link.Dial, Now: d.clock.Now, DiskCheck: d.disk.Check,
		OnPhase: func(p string) { d.onPhase(ctx, p, link, stop, stderr) }})
	if err != nil {
		stop()
		return err
	}
	done := make(chan struct{})
	d.mu.Lock()
	d.ag, d.link, d.done, d.stop = ag, link, done, stop
	d.mu.Unlock()
	go func() {
		defer close(done)
		if err := ag.Run(actx); err != nil && actx.Err() == nil {
			fmt.Fprintf(stderr, "%s: %v\n", d.name, err)
		}
	}()
	return nil
}

// onPhase is the agent's phase hook: at the planned phase, the agent dies
// as under kill -9, and a new one starts from its data directory.
func (d *faultDevice) onPhase(ctx context.Context, phase string, link *faults.Link, stop context.CancelFunc, stderr io.Writer) {
	k := d.kill
	if k == nil || phase != string(k.event.Phase) || !k.firedAt.IsZero() {
		return
	}
	k.phase, k.firedAt = phase, time.Now()
	// The connections go without an MQTT DISCONNECT, the other goroutines
	// (connection manager, queue forwarder) stop, and this one, the
	// deployment's, ends here: nothing after the phase runs, and the
	// state on disk is what the agent had written by then. The queue's
	// writer still finishes its 20 ms window as Run unwinds: the result
	// stream skips a device whose agent is down, so the rehearsal counts
	// the link and the deployment, not that window.
	link.Kill()
	stop()
	done := d.current()
	go func() {
		<-done
		k.restarts++
		if err := d.start(ctx, "", stderr); err != nil {
			fmt.Fprintf(stderr, "%s: restart after agent-kill: %v\n", d.name, err)
		}
		close(k.fired)
	}()
	runtime.Goexit()
}

func (d *faultDevice) current() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.done
}

func (d *faultDevice) agent() *agent.Agent {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ag
}

func (d *faultDevice) currentLink() *faults.Link {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.link
}

// isCut tells whether a link cut is in force on the device.
func (d *faultDevice) isCut() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cuts > 0
}

// cut and restore nest: overlapping cuts of one device end with the last.
func (d *faultDevice) cut() {
	d.mu.Lock()
	d.cuts++
	l := d.link
	d.mu.Unlock()
	l.Cut()
}

func (d *faultDevice) restore() {
	d.mu.Lock()
	d.cuts--
	l, up := d.link, d.cuts == 0
	d.mu.Unlock()
	if up {
		l.Restore()
	}
}

// shutdown stops the agent and waits for it.
func (d *faultDevice) shutdown() {
	d.mu.Lock()
	stop, done := d.stop, d.done
	d.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}
