package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/faults"
)

// run rolls out the deployment, injects the faults while results flow,
// waits for the fleet to recover and converge, and reports.
func (r *rehearsal) run(ctx context.Context) (*faults.Report, error) {
	r.t0 = time.Now()
	d, err := r.cl.CreateDeployment(ctx, vise.CreateDeploymentRequest{Target: vise.Target{Kind: vise.TargetGroup, Name: r.o.group},
		Components: []vise.ComponentRef{{Name: "vise.sim.payload", Version: "1.0.0"}}})
	if err != nil {
		return nil, err
	}
	r.deploy = d.ID
	r.prog.say(true, "deployment %s rolling out; faults over the next %s", d.ID, r.o.duration)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	genCtx, stopGen := context.WithCancel(ctx)
	var gen sync.WaitGroup
	gen.Go(func() { r.generate(genCtx) })
	defer func() { stopGen(); gen.Wait() }()
	for _, d := range r.devs {
		if d.kill != nil {
			r.watchKill(watchCtx, d)
		}
	}
	faults.Schedule(ctx, r.t0, r.evs, func(e faults.Event) {
		r.prog.say(true, "%s: begins", e.Text)
		r.begin(watchCtx, e)
	}, func(e faults.Event) {
		r.prog.say(true, "%s: ends", e.Text)
		r.end(watchCtx, e)
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(r.t0.Add(r.o.duration))):
	}
	deadline := time.Now().Add(r.o.drain)
	r.prog.say(true, "fault window over; the fleet has %s to converge and empty its queues", r.o.drain)
	dep := r.awaitConverged(ctx, deadline)
	stopGen()
	gen.Wait()
	r.awaitDrained(ctx, deadline)
	r.awaitRecovered(deadline)
	stopWatch()
	r.recover.Wait()
	r.addRedelivered(ctx)
	r.shutdown()
	r.srv.stop()
	return r.report(ctx, dep)
}

// awaitConverged waits until every device runs the deployment (or the
// deadline), and says where it ended.
func (r *rehearsal) awaitConverged(ctx context.Context, deadline time.Time) *faults.DeploymentOutcome {
	out := &faults.DeploymentOutcome{ID: r.deploy}
	for {
		running, failed, rollbacks := 0, 0, 0
		var failures, pending []string
		for _, d := range r.devs {
			st := d.agent().State()
			switch {
			case st.Deployment != r.deploy:
				pending = append(pending, fmt.Sprintf("%s: has not taken it up (on %q, %s)", d.name, st.Deployment, st.DeploymentState))
			case st.DeploymentState == vise.DeviceRunning:
				running++
			case st.DeploymentState == vise.DeviceFailed:
				failed++
				failures = append(failures, d.name+": "+st.Message)
			default:
				pending = append(pending, fmt.Sprintf("%s: %s %s", d.name, st.DeploymentState, st.Message))
			}
			if st.Deployment == r.deploy && strings.Contains(st.Message, "rolled back") {
				rollbacks++
			}
		}
		out.Running, out.Failed, out.Rollbacks, out.Failures, out.Pending = running, failed, rollbacks, failures, pending
		r.prog.say(running+failed == len(r.devs), "deployment: %d running, %d failed, %d on their way", running, failed, len(pending))
		if running+failed == len(r.devs) || time.Now().After(deadline) || ctx.Err() != nil {
			out.Converged = running == len(r.devs)
			out.ConvergedSeconds = time.Since(r.t0).Seconds()
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// awaitDrained waits until every device is connected with an empty queue.
func (r *rehearsal) awaitDrained(ctx context.Context, deadline time.Time) {
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if r.all(r.devs, func(d *faultDevice) bool { a := d.agent(); return a.Connected() && a.QueueDepth() == 0 }) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// awaitRecovered gives the faults' recovery watchers until the deadline.
func (r *rehearsal) awaitRecovered(deadline time.Time) {
	done := make(chan struct{})
	go func() { r.recover.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
	}
}

func (r *rehearsal) all(devs []*faultDevice, ok func(*faultDevice) bool) bool {
	for _, d := range devs {
		if !ok(d) {
			return false
		}
	}
	return true
}

func (r *rehearsal) struck(e faults.Event) []*faultDevice {
	out := make([]*faultDevice, len(e.Devices))
	for i, n := range e.Devices {
		out[i] = r.devs[n]
	}
	return out
}

// outcome is the fault's entry in the report.
func (r *rehearsal) outcome(e faults.Event) *faults.FaultOutcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.outcomes[e.Text]
	if o == nil {
		o = &faults.FaultOutcome{Fault: e.Text, Devices: len(e.Devices), Effect: map[string]any{}, RecoverSeconds: -1}
		r.outcomes[e.Text] = o
	}
	return o
}

func (r *rehearsal) setEffect(o *faults.FaultOutcome, k string, v any) {
	r.mu.Lock()
	o.Effect[k] = v
	r.mu.Unlock()
}

// watch records, in the fault's outcome, how long from `from` until ok
// holds; it gives up (leaving -1) when ctx ends.
func (r *rehearsal) watch(ctx context.Context, o *faults.FaultOutcome, from time.Time, ok func() bool) {
	r.recover.Go(func() {
		for ctx.Err() == nil {
			if ok() {
				r.mu.Lock()
				o.RecoverSeconds = time.Since(from).Seconds()
				r.mu.Unlock()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// watchKill waits for the device's agent-kill and measures the time from
// it to the new agent running the deployment.
func (r *rehearsal) watchKill(ctx context.Context, d *faultDevice) {
	k := d.kill
	o := r.outcome(k.event)
	r.recover.Go(func() {
		select {
		case <-ctx.Done():
			return
		case <-k.fired:
		}
		r.mu.Lock()
		o.Fired, o.AtSec = true, k.firedAt.Sub(r.t0).Seconds()
		o.Effect["device"], o.Effect["phase"], o.Effect["agent_restarts"] = d.name, k.phase, k.restarts
		r.mu.Unlock()
		r.watch(ctx, o, k.firedAt, func() bool {
			st := d.agent().State()
			return d.agent().Connected() && st.Deployment == r.deploy && st.DeploymentState == vise.DeviceRunning
		})
	})
}
