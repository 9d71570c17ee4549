package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	_ "modernc.org/sqlite" // the rehearsal's server's database, read at the end

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/faults"
)

// begin injects a fault as it starts.
func (r *rehearsal) begin(ctx context.Context, e faults.Event) {
	o := r.outcome(e)
	now := time.Now()
	r.mu.Lock()
	o.AtSec = now.Sub(r.t0).Seconds()
	r.mu.Unlock()
	devs := r.struck(e)
	switch e.Kind {
	case faults.LinkCut:
		var cut int64
		for _, d := range devs {
			before := d.currentLink().Cuts()
			d.cut()
			cut += d.currentLink().Cuts() - before
		}
		r.setEffect(o, "connections_cut", cut)
		r.fired(o, cut > 0)
		// Evidence the devices noticed: their agents report the link down.
		r.recover.Go(func() {
			deadline := time.Now().Add(e.For)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if r.all(devs, func(d *faultDevice) bool { return !d.agent().Connected() }) {
					r.setEffect(o, "devices_saw_link_down", len(devs))
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	case faults.ServerKill, faults.BrokerRestart:
		r.restartServer(ctx, e, o, now)
	case faults.DiskFull:
		for _, d := range devs {
			d.disk.Fill()
		}
	case faults.ClockSkew:
		for _, d := range devs {
			d.clock.Skew(e.Offset)
		}
		r.setEffect(o, "offset", e.Offset.String())
		r.fired(o, true)
		r.watch(ctx, o, now, func() bool { return r.all(devs, func(d *faultDevice) bool { return d.agent().Connected() }) })
	}
}

// end lifts a fault that lasts, and starts timing the recovery.
func (r *rehearsal) end(ctx context.Context, e faults.Event) {
	o := r.outcome(e)
	devs := r.struck(e)
	now := time.Now()
	switch e.Kind {
	case faults.LinkCut:
		for _, d := range devs {
			d.restore()
		}
		r.watch(ctx, o, now, func() bool { return r.all(devs, func(d *faultDevice) bool { return d.agent().Connected() }) })
	case faults.DiskFull:
		var refused int64
		for _, d := range devs {
			d.disk.Free()
			refused += d.disk.Refused()
		}
		r.setEffect(o, "writes_refused", refused)
		r.fired(o, refused > 0)
		r.watch(ctx, o, now, func() bool {
			return r.all(devs, func(d *faultDevice) bool { a := d.agent(); return a.Connected() && a.QueueDepth() == 0 })
		})
	}
}

func (r *rehearsal) fired(o *faults.FaultOutcome, yes bool) {
	r.mu.Lock()
	o.Fired = o.Fired || yes
	r.mu.Unlock()
}

// restartServer kills the server (-9), or stops it cleanly for a broker
// restart (the embedded broker lives in the server's process), starts it
// again on the same data and ports, and times the fleet's way back.
func (r *rehearsal) restartServer(ctx context.Context, e faults.Event, o *faults.FaultOutcome, at time.Time) {
	r.addRedelivered(ctx)
	drops := func() (n int64) {
		for _, d := range r.devs {
			n += d.currentLink().Drops()
		}
		return n
	}
	type dialed struct {
		link  *faults.Link
		dials int64
	}
	sessions := make([]dialed, len(r.devs))
	for i, d := range r.devs {
		l := d.currentLink()
		sessions[i] = dialed{l, l.Dials(r.srv.mqtt)}
	}
	// Devices connected again since, by a new MQTT connection (a new
	// link, an agent killed since, counts), latched: a device seen back
	// stays counted if a later link cut takes it away. A device cut
	// before it was back is not waited for.
	back := map[int]bool{}
	reconnected := func() (n, reachable int) {
		for i, d := range r.devs {
			if !back[i] {
				l := d.currentLink()
				back[i] = (l != sessions[i].link || l.Dials(r.srv.mqtt) > sessions[i].dials) && d.agent().Connected()
			}
			if back[i] || !d.isCut() {
				reachable++
			}
		}
		return len(back) - countFalse(back), reachable
	}
	before, pid := drops(), r.srv.pid()
	running := 0
	for _, d := range r.devs {
		if st := d.agent().State(); st.Deployment == r.deploy && st.DeploymentState == vise.DeviceRunning {
			running++
		}
	}
	if e.Kind == faults.ServerKill {
		r.srv.kill()
	} else {
		r.srv.stop()
	}
	err := r.srv.start(ctx)
	r.mu.Lock()
	o.Effect["pid_before"] = pid
	o.Effect["devices_running_deployment_before"] = running // fewer than all: it struck during the rollout
	if err != nil {
		o.Effect["restart_error"] = err.Error()
	} else {
		o.Effect["pid_after"] = r.srv.pid()
		o.Effect["restart_seconds"] = time.Since(at).Seconds()
	}
	r.mu.Unlock()
	if err != nil {
		return
	}
	r.watch(ctx, o, at, func() bool {
		n, reachable := reconnected()
		if n < reachable {
			return false
		}
		r.setEffect(o, "device_connections_dropped", drops()-before)
		r.setEffect(o, "devices_reconnected", n)
		r.fired(o, true)
		return true
	})
}

func countFalse(m map[int]bool) (n int) {
	for _, v := range m {
		if !v {
			n++
		}
	}
	return n
}

// addRedelivered adds the server's count of results sent again and
// already stored (counted per server process, read before it goes).
func (r *rehearsal) addRedelivered(ctx context.Context) {
	n, _ := r.cl.Metric(ctx, `vise_results_total{outcome="duplicate"}`)
	r.mu.Lock()
	r.redelivered += int64(n)
	r.mu.Unlock()
}

// report compares what was published with what the server stored.
func (r *rehearsal) report(ctx context.Context, dep *faults.DeploymentOutcome) (*faults.Report, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(r.srv.data, "vise.db")+"?mode=ro")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT msg_id, json_extract(payload, '$.inferred_at') FROM results WHERE component = 'vise.sim'`)
	if err != nil {
		return nil, fmt.Errorf("read the results the rehearsal's server stored: %w", err)
	}
	defer rows.Close()
	stored, stamped := map[string]int{}, map[string]time.Time{}
	for rows.Next() {
		var id, at string
		if err := rows.Scan(&id, &at); err != nil {
			return nil, err
		}
		stored[id]++
		stamped[id], _ = time.Parse(time.RFC3339Nano, at)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	ids := make([]string, len(r.published))
	for i, p := range r.published {
		ids[i] = p.id
	}
	rep := &faults.Report{Spec: r.o.fo.spec, Devices: len(r.devs), Published: len(ids), Stored: len(stored), Deployment: dep,
		Redelivered: r.redelivered}
	rep.Lost, rep.Duplicated, rep.Unexpected = faults.Tally(ids, stored)
	if n := len(r.published); n > 1 {
		rep.PublishedPerSec = float64(n) / r.published[n-1].at.Sub(r.t0).Seconds()
	}
	r.skewEvidence(stamped)
	for _, e := range r.evs {
		rep.Faults = append(rep.Faults, *r.outcome(e))
	}
	rep.Finish()
	return rep, nil
}

// skewEvidence counts, per skew fault, the stored results of its devices
// stamped by the skewed clock (off by the offset from when they were
// published, within a second).
func (r *rehearsal) skewEvidence(stamped map[string]time.Time) {
	for _, e := range r.evs {
		if e.Kind != faults.ClockSkew {
			continue
		}
		n := 0
		for _, p := range r.published {
			if !slices.Contains(e.Devices, p.dev) {
				continue
			}
			if off := stamped[p.id].Sub(p.at) - e.Offset; off > -time.Second && off < time.Second {
				n++
			}
		}
		o := r.outcome(e)
		o.Effect["results_stamped_skewed"] = n
		o.Fired = o.Fired && n > 0
	}
}
