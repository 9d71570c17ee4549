package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/faults"
)

// faultOpts are `vise sim --faults`'s own flags.
type faultOpts struct {
	spec         string
	fleetRate    float64
	artifactSize int64
	serverBin    string
}

func addFaultFlags(f *pflag.FlagSet, o *faultOpts) {
	f.StringVar(&o.spec, "faults", "", `fault rehearsal: run a server of its own, roll out a deployment and inject faults, e.g. "linkcut:10%@30s+5m,server-kill@60s,agent-kill:phase=download" (README: "Fault rehearsal"); --duration is the window faults fall in, --drain the time allowed to recover after it`)
	f.Float64Var(&o.fleetRate, "fleet-results-per-sec", 50, "with --faults, synthetic results per second across the fleet")
	f.Int64Var(&o.artifactSize, "artifact-size", 1<<20, "with --faults, bytes of the artifact the rehearsal deploys")
	f.StringVar(&o.serverBin, "server-bin", "", "with --faults, the vise binary to run the server with (default this one)")
}

// faultPlan checks the flags and the spec before anything starts: bad
// input is a usage error naming the fault.
func faultPlan(o simOpts) ([]faults.Event, error) {
	if o.duration <= 0 || o.fo.fleetRate <= 0 || o.fo.artifactSize <= 0 {
		return nil, fmt.Errorf("%w: --faults needs --duration (the window faults fall in), --fleet-results-per-sec and --artifact-size above 0", errUsage)
	}
	if o.deploy != "" || o.direct {
		return nil, fmt.Errorf("%w: --faults rolls out a deployment of its own; drop --deploy and --direct", errUsage)
	}
	spec, err := faults.Parse(o.fo.spec)
	if err != nil {
		return nil, fmt.Errorf("%w: --faults: %v", errUsage, err)
	}
	evs, err := faults.Plan(spec, faults.PlanOptions{Devices: o.devices, RunFor: o.duration, Deploys: true})
	if err != nil {
		return nil, fmt.Errorf("%w: --faults: %v", errUsage, err)
	}
	return evs, nil
}

// rehearsal is one `vise sim --faults` run.
type rehearsal struct {
	a       *app
	o       simOpts
	evs     []faults.Event
	srv     *childServer
	cl      *client.Client
	devs    []*faultDevice
	t0      time.Time
	deploy  string
	recover sync.WaitGroup
	prog    *progress

	mu          sync.Mutex
	outcomes    map[string]*faults.FaultOutcome
	published   []published
	redelivered int64
}

type published struct {
	id  string
	dev int
	at  time.Time
}

func (a *app) simFaults(ctx context.Context, o simOpts) error {
	evs, err := faultPlan(o)
	if err != nil {
		return err
	}
	rep, err := a.rehearse(ctx, o, evs)
	if err != nil {
		return err
	}
	return a.print(rep, func(w *tabwriter.Writer) {
		fmt.Fprintf(w, "%d devices, faults %s\n", rep.Devices, rep.Spec)
		fmt.Fprintf(w, "results: %d published, %d stored, %d lost, %d duplicated\n", rep.Published, rep.Stored, rep.Lost, rep.Duplicated)
		if d := rep.Deployment; d != nil {
			fmt.Fprintf(w, "deployment %s: %d running, %d failed, %d rollbacks, converged %v in %.1fs\n", d.ID, d.Running, d.Failed, d.Rollbacks, d.Converged, d.ConvergedSeconds)
			for _, p := range d.Pending {
				fmt.Fprintf(w, "  pending %s\n", p)
			}
		}
		for _, f := range rep.Faults {
			fmt.Fprintf(w, "%s\tat %.1fs\tfired %v\trecovered in %.1fs\t%v\n", f.Fault, f.AtSec, f.Fired, f.RecoverSeconds, f.Effect)
		}
		fmt.Fprintf(w, "ok: %v\n", rep.Ok)
	})
}

func (a *app) rehearse(ctx context.Context, o simOpts, evs []faults.Event) (*faults.Report, error) {
	if o.data == "" {
		dir, err := os.MkdirTemp("", "vise-rehearsal-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		o.data = dir
	} else if _, err := os.Stat(filepath.Join(o.data, "server")); err == nil {
		return nil, fmt.Errorf("%w: --sim-data %s holds an earlier rehearsal; give an empty directory (its results would count as unexpected)", errUsage, o.data)
	}
	bin := o.fo.serverBin
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	srv, err := newChildServer(bin, filepath.Join(o.data, "server"))
	if err != nil {
		return nil, err
	}
	if err := srv.start(ctx); err != nil {
		return nil, err
	}
	defer srv.stop()
	a.server, a.dataDir, a.token = srv.url, srv.data, ""
	r := &rehearsal{a: a, o: o, evs: evs, srv: srv, cl: a.client(), outcomes: map[string]*faults.FaultOutcome{}, prog: newProgress(a.stderr)}
	defer r.shutdown()
	if err := r.setUp(ctx); err != nil {
		return nil, err
	}
	return r.run(ctx)
}

// setUp makes the component to deploy and starts the fleet.
func (r *rehearsal) setUp(ctx context.Context) error {
	if _, err := r.cl.CreateGroup(ctx, vise.CreateGroupRequest{Name: r.o.group, Description: "vise sim --faults"}); err != nil && vise.ErrorCode(err) != vise.CodeConflict {
		return err
	}
	art := filepath.Join(r.o.data, "payload.bin")
	b := make([]byte, r.o.fo.artifactSize)
	rand.Read(b)
	if err := os.WriteFile(art, b, 0o600); err != nil {
		return err
	}
	up, err := r.cl.UploadFile(ctx, art, nil)
	if err != nil {
		return err
	}
	rc := &vise.Recipe{Name: "vise.sim.payload", Version: "1.0.0", Artifacts: []vise.RecipeArtifact{{Name: "payload.bin", SHA256: up.SHA256, Size: up.Size}}}
	if _, _, err := r.cl.CreateComponent(ctx, rc); err != nil {
		return err
	}
	for i := range r.o.devices {
		name := fmt.Sprintf("%s-%04d", r.o.group, i)
		d := &faultDevice{i: i, name: name, dir: filepath.Join(r.o.data, name), server: r.srv.deviceURL}
		r.devs = append(r.devs, d)
		tok, err := r.cl.CreateEnrollmentToken(ctx, r.o.group, time.Hour)
		if err != nil {
			return err
		}
		if err := d.start(ctx, tok.Token, r.a.stderr); err != nil {
			return err
		}
	}
	for _, e := range r.evs {
		if e.Kind == faults.AgentKill {
			r.devs[e.Devices[0]].kill = &agentKill{event: e, fired: make(chan struct{})}
		}
	}
	return awaitSeen(ctx, r.cl, r.o.group, r.o.devices, r.prog)
}

func (r *rehearsal) shutdown() {
	var wg sync.WaitGroup
	for _, d := range r.devs {
		wg.Go(d.shutdown)
	}
	wg.Wait()
}

// generate publishes fleet-wide results, round robin, skipping a device
// whose agent is down; each id is kept with its device and the time. It
// catches up on ticks a busy machine skipped, so the rate offered is the
// one asked for.
func (r *rehearsal) generate(ctx context.Context) {
	t := time.NewTicker(max(time.Millisecond, time.Duration(float64(time.Second)/r.o.fo.fleetRate)))
	defer t.Stop()
	start := time.Now()
	next, n := 0, 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for want := int(r.o.fo.fleetRate * time.Since(start).Seconds()); n < want && ctx.Err() == nil; {
			if !r.publishOne(&next, n) {
				break // every agent is down: try at the next tick
			}
			n++
		}
	}
}

// publishOne gives result f-n to the next device whose agent takes it.
func (r *rehearsal) publishOne(next *int, n int) bool {
	for range r.devs {
		d := r.devs[*next%len(r.devs)]
		*next++
		id := fmt.Sprintf("f-%d", n)
		now := time.Now()
		res := deviceapi.Result{Schema: deviceapi.ResultSchema, MsgID: id, InferredAt: d.clock.Now(), CapturedAt: d.clock.Now(),
			Image: deviceapi.ImageRef{Name: id + ".jpg"}, Detections: []deviceapi.Detection{}}
		body, _ := json.Marshal(res)
		if d.agent().PublishResult("vise.sim", body) {
			r.mu.Lock()
			r.published = append(r.published, published{id, d.i, now})
			r.mu.Unlock()
			return true
		}
	}
	return false
}
