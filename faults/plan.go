package faults

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// Event is a fault placed on the fleet: when it starts and ends, and on
// which devices.
type Event struct {
	Fault
	Devices []int // device indexes; none for server-kill and broker-restart
}

// End is when the fault is over (its start for an instant one).
func (f Fault) End() time.Duration { return f.At + f.For }

// PlanOptions describe the run a spec is placed on.
type PlanOptions struct {
	Devices int           // fleet size
	RunFor  time.Duration // how long faults may be injected
	Deploys bool          // a deployment is rolled out (agent-kill needs one)
}

// Plan places each fault on devices and checks its timing against the
// run. A share of devices is spread evenly over the fleet; faults that
// strike one device without naming it get distinct ones from the end of
// the fleet, so two agent-kills never hit the same device.
func Plan(spec Spec, o PlanOptions) ([]Event, error) {
	next := o.Devices - 1
	taken := map[int]string{}
	var evs []Event
	seen := map[string]bool{}
	for _, f := range spec {
		e := Event{Fault: f}
		if seen[f.Text] {
			return nil, fmt.Errorf("fault %q is given twice; give each once (its report is keyed by it)", f.Text)
		}
		seen[f.Text] = true
		if err := f.checkRun(o); err != nil {
			return nil, fmt.Errorf("fault %q: %w", f.Text, err)
		}
		switch {
		case f.Kind == ServerKill || f.Kind == BrokerRestart:
		case f.All || f.Kind == LinkCut && f.Percent == 0 && f.Device < 0:
			e.Devices = spread(o.Devices, o.Devices)
		case f.Percent > 0:
			e.Devices = spread(o.Devices, int(math.Ceil(f.Percent*float64(o.Devices)/100)))
		case f.Device >= 0:
			e.Devices = []int{f.Device}
		default:
			for next >= 0 && taken[next] != "" {
				next--
			}
			if next < 0 {
				return nil, fmt.Errorf("fault %q: no device left to strike; the fleet has %d", f.Text, o.Devices)
			}
			e.Devices = []int{next}
		}
		if f.Kind == AgentKill {
			d := e.Devices[0]
			if prev := taken[d]; prev != "" {
				return nil, fmt.Errorf("fault %q: device %d is already killed by %q; one agent-kill a device", f.Text, d, prev)
			}
			taken[d] = f.Text
		}
		evs = append(evs, e)
	}
	slices.SortStableFunc(evs, func(a, b Event) int { return int(a.At - b.At) })
	return evs, nil
}

// checkRun is what an item must satisfy on this run.
func (f Fault) checkRun(o PlanOptions) error {
	switch {
	case f.Device >= o.Devices:
		return fmt.Errorf("device %d does not exist: the fleet has %d (dev=0 to dev=%d)", f.Device, o.Devices, o.Devices-1)
	case f.Kind == AgentKill && !o.Deploys:
		return fmt.Errorf("agent-kill strikes during a deployment: pass --deploy")
	case f.Kind != AgentKill && f.End() > o.RunFor:
		return fmt.Errorf("it ends at %s, after the rehearsal's --duration %s; start it earlier or run longer", f.End(), o.RunFor)
	}
	return nil
}

// spread picks n of total indexes, evenly apart.
func spread(total, n int) []int {
	out := make([]int, n)
	for k := range n {
		out[k] = k * total / n
	}
	return out
}

// Schedule calls start for each timed event at its start and stop at its
// end (for faults that last), measured from t0, until ctx is done.
// Agent-kill events are not timed and are skipped.
func Schedule(ctx context.Context, t0 time.Time, evs []Event, start, stop func(Event)) {
	type step struct {
		at    time.Duration
		e     Event
		begin bool
	}
	var steps []step
	for _, e := range evs {
		if e.Kind == AgentKill {
			continue
		}
		steps = append(steps, step{e.At, e, true})
		if e.For > 0 {
			steps = append(steps, step{e.End(), e, false})
		}
	}
	slices.SortStableFunc(steps, func(a, b step) int { return int(a.at - b.at) })
	for _, s := range steps {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(t0.Add(s.at))):
		}
		if s.begin {
			start(s.e)
		} else {
			stop(s.e)
		}
	}
}
