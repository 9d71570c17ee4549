package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/procstat"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/agent"
	"github.com/vise-edge/vise/client"
)

// SimReport is what `vise sim -o json` prints.
type SimReport struct {
	Devices       int      `json:"devices"`
	EnrollSeconds float64  `json:"enroll_and_connect_seconds"`
	Deployment    string   `json:"deployment,omitempty"`
	RunningP50MS  float64  `json:"running_p50_ms,omitempty"`
	RunningP95MS  float64  `json:"running_p95_ms,omitempty"`
	RunningMaxMS  float64  `json:"running_max_ms,omitempty"`
	Reached       int      `json:"devices_running"`
	SimRSSBytes   int64    `json:"sim_rss_bytes"`
	ResultsQueued int      `json:"results_published"`
	Failures      []string `json:"failures,omitempty"`
	// Ingest is set with --direct.
	Ingest *IngestReport `json:"ingest,omitempty"`
	// Idle is the fleet's memory and the server's idle CPU, measured
	// once every device is up.
	Idle *IdleReport `json:"idle,omitempty"`
	// Phases splits the time to RUNNING by device state.
	Phases *PhaseReport `json:"phases,omitempty"`
}

type simOpts struct {
	devices                   int
	deviceServer, group, data string
	deploy                    string
	resultsPerSec             float64
	duration, drain, idle     time.Duration
	direct, baseline          bool
	baselineDB                string
	inFlight                  int
	cpuProfile, memProfile    string
	fo                        faultOpts // --faults (sim_faults.go)
}

// simCmd runs many lightweight agents in one process: real enrollment,
// real mTLS MQTT connections, real signed deployments, with inference
// replaced by a synthetic result stream, to measure the control plane.
func (a *app) simCmd() *cobra.Command {
	var o simOpts
	c := &cobra.Command{
		Use:   "sim --devices N",
		Short: "Simulate a fleet: N agents in this process (real enrollment, MQTT and deployments; synthetic results)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.devices <= 0 {
				return fmt.Errorf("%w: --devices must be positive", errUsage)
			}
			if c.Flags().Changed("faults") {
				return a.simFaults(c.Context(), o)
			}
			if o.direct && (o.resultsPerSec <= 0 || o.duration <= 0 || o.inFlight <= 0) {
				return fmt.Errorf("%w: --direct needs --results-per-sec and --duration above 0 (and --in-flight at least 1)", errUsage)
			}
			if o.cpuProfile != "" {
				stop, err := startCPUProfile(o.cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			rep, err := a.sim(c.Context(), o)
			if err != nil {
				return err
			}
			return a.print(rep, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "%d devices enrolled and connected in %.1fs\n", rep.Devices, rep.EnrollSeconds)
				if r := rep.Idle; r != nil {
					fmt.Fprintf(w, "per device: simulator %.0f KiB, server %.0f KiB (server RSS %.0f MiB); server CPU idling %.0fs: %.2f cores\n",
						r.SimBytesPerDevice/1024, r.ServerBytesPerDevice/1024, float64(r.ServerRSSBytes)/(1<<20), r.IdleSeconds, r.ServerIdleCPU)
				}
				if rep.Deployment != "" {
					fmt.Fprintf(w, "deployment %s: %d/%d RUNNING; time to RUNNING p50 %.0f ms, p95 %.0f ms, max %.0f ms\n",
						rep.Deployment, rep.Reached, rep.Devices, rep.RunningP50MS, rep.RunningP95MS, rep.RunningMaxMS)
				}
				fmt.Fprintf(w, "simulator RSS %.0f MiB, %d results published\n", float64(rep.SimRSSBytes)/(1<<20), rep.ResultsQueued)
				if r := rep.Ingest; r != nil {
					fmt.Fprintf(w, "direct: offered %d (%.0f/s), acknowledged %d, not acknowledged %d, stored %d (%.0f/s); publish to stored p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
						r.Offered, r.OfferedPerSec, r.Acknowledged, r.NotAcknowledged, r.Stored, r.StoredPerSec, r.LatencyP50MS, r.LatencyP99MS, r.LatencyMaxMS)
				}
			})
		},
	}
	f := c.Flags()
	f.IntVar(&o.devices, "devices", 10, "simulated devices")
	f.StringVar(&o.deviceServer, "device-server", "https://127.0.0.1:8443", "the server's device API")
	f.StringVar(&o.group, "group", "sim", "group the simulated devices join (created if missing)")
	f.StringVar(&o.data, "sim-data", "", "directory for the simulated agents (default: a temporary one)")
	f.StringVar(&o.deploy, "deploy", "", "after all devices are up, deploy NAME[@VERSION] to the group and measure the time to RUNNING")
	f.Float64Var(&o.resultsPerSec, "results-per-sec", 0, "synthetic results each device publishes per second")
	f.DurationVar(&o.duration, "duration", 0, "how long to keep running after the measurement (0: stop)")
	f.DurationVar(&o.drain, "drain", time.Minute, "at the end, how long to wait for the devices' queues to empty")
	f.BoolVar(&o.direct, "direct", false, "publish results straight to the broker at QoS 1 (no per-device queue) for --duration, and report ingestion: offered, acknowledged, stored, latency")
	f.BoolVar(&o.baseline, "baseline", true, "with --direct, then insert the same rows straight into a database, in batches of the server's average size, and report the ratio (sim_baseline.go)")
	f.StringVar(&o.baselineDB, "baseline-db", "", "with --direct: the database for --baseline, an empty postgres:// one to compare a PostgreSQL server (default a new SQLite file)")
	f.IntVar(&o.inFlight, "in-flight", 32, "with --direct, unacknowledged results a device may have before it waits (the server takes up to 64 of one device into its batches)")
	f.DurationVar(&o.idle, "idle", 0, "once every device is up, let the fleet idle this long and report memory per device and the server's CPU (0: measure memory at once)")
	f.StringVar(&o.cpuProfile, "cpu-profile", "", "write a CPU profile of the simulator to FILE at exit (read with 'go tool pprof')")
	f.StringVar(&o.memProfile, "mem-profile", "", "write a heap profile of the simulator to FILE once the devices are up (and the deployment measured)")
	addFaultFlags(f, &o.fo)
	return a.addOutput(c)
}

func (a *app) sim(ctx context.Context, o simOpts) (*SimReport, error) {
	cl := a.client()
	if _, err := cl.CreateGroup(ctx, vise.CreateGroupRequest{Name: o.group, Description: "vise sim"}); err != nil && vise.ErrorCode(err) != vise.CodeConflict {
		return nil, err
	}
	if o.data == "" {
		dir, err := os.MkdirTemp("", "vise-sim-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.data = dir
	}
	log := slog.New(slog.DiscardHandler)
	// One artifact cache for the whole simulated fleet: each device still
	// downloads and verifies, but the bytes are written once.
	shared, err := agent.NewSharedCache(filepath.Join(o.data, "shared-artifacts"))
	if err != nil {
		return nil, err
	}
	base, err := takeBaseline(ctx, cl)
	if err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	rep := &SimReport{Devices: o.devices}
	prog := newProgress(a.stderr)
	start := time.Now()
	agents, names := make([]*agent.Agent, o.devices), make([]string, o.devices)
	var links []*rawLink
	for i := range agents {
		name := fmt.Sprintf("%s-%04d", o.group, i)
		names[i] = name
		tok, err := cl.CreateEnrollmentToken(ctx, o.group, time.Hour)
		if err != nil {
			return nil, err
		}
		cfg := agent.Config{Server: o.deviceServer, Token: tok.Token, DataDir: filepath.Join(o.data, name), Name: name,
			Reconcile: 5 * time.Minute, NoIPC: true, SharedCache: shared, Logger: log}
		if o.direct {
			// sim_raw.go: results written as PUBLISH packets on the
			// agent's connection, gathered into one TLS record a burst.
			l := newRawLink()
			links = append(links, l)
			cfg.MQTTConn = l.wrap
		}
		ag, err := agent.New(cfg)
		if err != nil {
			return nil, err
		}
		agents[i] = ag
		wg.Go(func() {
			if err := ag.Run(runCtx); err != nil && runCtx.Err() == nil {
				fmt.Fprintf(a.stderr, "%s: %v\n", name, err)
			}
		})
	}
	if err := awaitSeen(ctx, cl, o.group, o.devices, prog); err != nil {
		return nil, err
	}
	rep.EnrollSeconds = time.Since(start).Seconds()
	if rep.Idle, err = measureIdle(ctx, cl, base, o.devices, o.idle); err != nil {
		fmt.Fprintf(a.stderr, "no idle measurement: %v\n", err) // the fleet runs on
	}
	genCtx, stopGen := context.WithCancel(runCtx)
	defer stopGen()
	var gen sync.WaitGroup
	if o.resultsPerSec > 0 && !o.direct {
		gen.Go(func() { rep.ResultsQueued = syntheticResults(genCtx, agents, o.resultsPerSec) })
	}
	if o.deploy != "" {
		if err := measureDeploy(ctx, cl, o, agents, rep, prog); err != nil {
			return nil, err
		}
	}
	if o.direct {
		prog.say(true, "publishing results for %s", o.duration)
		ing, err := directResults(ctx, cl, links, names, o)
		if err != nil {
			return nil, err
		}
		rep.Ingest, rep.ResultsQueued = ing, int(ing.Offered)
	} else if o.duration > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(o.duration):
		}
	}
	rep.SimRSSBytes = selfRSS()
	if o.memProfile != "" {
		if err := writeHeapProfile(o.memProfile); err != nil {
			return nil, err
		}
	}
	stopGen()
	gen.Wait()
	drain(ctx, agents, o.drain) // what is queued is delivered before the agents stop
	stop()
	wg.Wait()
	return rep, nil
}

// awaitSeen waits until n devices of the group have reported.
func awaitSeen(ctx context.Context, cl *client.Client, group string, n int, prog *progress) error {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		// A server restarting meanwhile is waited for, not fatal: the
		// agents ride it out, so does the count (until the deadline).
		ds, err := cl.Devices(ctx)
		if err != nil && (ctx.Err() != nil || time.Now().After(deadline)) {
			return err
		}
		seen := 0
		for _, d := range ds {
			if d.LastSeenAt != nil && slices.Contains(d.Groups, group) {
				seen++
			}
		}
		prog.say(seen >= n, "%d of %d devices up", seen, n)
		if seen >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return vise.Errorf(vise.CodeUnavailable, "only %d of %d simulated devices came up in 10 minutes", seen, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// measureDeploy deploys to the group and times each agent's way to RUNNING.
func measureDeploy(ctx context.Context, cl *client.Client, o simOpts, agents []*agent.Agent, rep *SimReport, prog *progress) error {
	srvCPU, err := cl.Metric(ctx, cpuSample)
	if err != nil {
		return err
	}
	// A quarter of the garbage collections while the rollout runs: the
	// simulator is a load generator whose CPU is the server's on a shared
	// machine, and a rollout churns through TLS records, TUF metadata and
	// JSON per device. Only while it runs: idle, the heap per device is what
	// the memory figures measure.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	simCPU := cpuTime()
	start := time.Now()
	d, err := cl.CreateDeployment(ctx, vise.CreateDeploymentRequest{Target: vise.Target{Kind: vise.TargetGroup, Name: o.group},
		Components: []vise.ComponentRef{vise.ParseComponentRef(o.deploy)}})
	if err != nil {
		return err
	}
	rep.Deployment = d.ID
	done := make([]time.Duration, len(agents))
	phases := newPhaseClock(len(agents), start)
	deadline := time.Now().Add(10 * time.Minute)
	for remaining := len(agents); remaining > 0 && time.Now().Before(deadline); {
		for i, ag := range agents {
			if done[i] != 0 {
				continue
			}
			st := ag.State()
			if st.Deployment == d.ID {
				phases.observe(i, st.DeploymentState)
			}
			if st.Deployment == d.ID && (st.DeploymentState == vise.DeviceRunning || st.DeploymentState == vise.DeviceFailed) {
				done[i] = time.Since(start)
				remaining--
				if st.DeploymentState == vise.DeviceFailed {
					rep.Failures = append(rep.Failures, fmt.Sprintf("device %d: %s", i, st.Message))
				}
			}
		}
		prog.say(remaining == 0, "deployment %s: %d of %d devices done", d.ID, len(agents)-remaining, len(agents))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	rep.Phases = phases.report(done)
	rep.Phases.SimCPUSeconds = (cpuTime() - simCPU).Seconds()
	if srv, err := cl.Metric(ctx, cpuSample); err == nil {
		rep.Phases.ServerCPUSeconds = srv - srvCPU
	}
	var ms []float64
	for _, t := range done {
		if t > 0 {
			ms = append(ms, float64(t.Microseconds())/1000)
		}
	}
	slices.Sort(ms)
	rep.Reached = len(ms) - len(rep.Failures)
	if len(ms) > 0 {
		rep.RunningP50MS, rep.RunningP95MS, rep.RunningMaxMS = ms[len(ms)/2], ms[min(len(ms)-1, len(ms)*95/100)], ms[len(ms)-1]
	}
	return nil
}

// drain waits until every agent's store-and-forward queue is empty.
func drain(ctx context.Context, agents []*agent.Agent, within time.Duration) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		queued := 0
		for _, ag := range agents {
			queued += ag.QueueDepth()
		}
		if queued == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// syntheticResults makes every agent publish results at the given rate.
// Message ids are sim-0, sim-1, … across the fleet, so what arrived can be
// checked against what was published, id by id.
func syntheticResults(ctx context.Context, agents []*agent.Agent, perSec float64) int {
	t := time.NewTicker(time.Duration(float64(time.Second) / perSec))
	defer t.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return n
		case <-t.C:
			for _, ag := range agents {
				r := deviceapi.Result{Schema: deviceapi.ResultSchema, MsgID: fmt.Sprintf("sim-%d", n),
					Image: deviceapi.ImageRef{Name: fmt.Sprintf("sim-%d.jpg", n)}, Detections: []deviceapi.Detection{}}
				b, _ := json.Marshal(r)
				ag.PublishResult("vise.sim", b)
				n++
			}
		}
	}
}

func selfRSS() int64 { return procstat.RSS(0) }
