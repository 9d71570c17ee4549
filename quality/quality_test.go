package quality_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/blobs"
	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/ingest"
	"github.com/vise-edge/vise/quality"
	"github.com/vise-edge/vise/store"
	"github.com/vise-edge/vise/store/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

// clock is the test's time, shared by the store (received_at) and the monitor.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

type fixture struct {
	t     *testing.T
	store *store.Store
	in    *ingest.Ingester
	clock *clock
	seq   int
}

var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, engine string) *fixture {
	t.Helper()
	url := filepath.Join(t.TempDir(), "vise.db")
	if engine == store.Postgres {
		url = pgtest.NewDatabase(t)
	}
	c := &clock{t: t0}
	s, err := store.Open(ctx, store.Options{URL: url, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	b, err := blobs.Open(ctx, t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &fixture{t: t, store: s, in: ingest.New(ingest.Options{Context: ctx, Store: s, Blobs: b}), clock: c}
}

// model registers a model version with the given sha256 digit.
func (f *fixture) model(group string, digit int) string {
	f.t.Helper()
	a := vise.Artifact{SHA256: fmt.Sprintf("%064x", digit), Size: 10}
	if err := f.store.PutArtifact(ctx, a); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.store.CreateModelVersion(ctx, vise.ModelVersion{Group: group, Artifact: a, Format: "onnx", ClassNames: []string{"scratch"},
		Approval: vise.Approval{Status: vise.Approved}}); err != nil {
		f.t.Fatal(err)
	}
	return a.SHA256
}

func (f *fixture) devices(group string, names ...string) {
	f.t.Helper()
	if _, err := f.store.CreateGroup(ctx, vise.CreateGroupRequest{Name: group}); err != nil {
		f.t.Fatal(err)
	}
	for _, n := range names {
		if _, err := f.store.CreateDevice(ctx, vise.CreateDeviceRequest{Name: n}); err != nil {
			f.t.Fatal(err)
		}
		if err := f.store.AddGroupMember(ctx, group, n); err != nil {
			f.t.Fatal(err)
		}
	}
}

// deploy records a deployment of model component name@version at the clock's time.
func (f *fixture) deploy(target vise.Target, component, version string, devices ...string) {
	f.t.Helper()
	d := vise.Deployment{Target: target, Components: []vise.ComponentRef{{Name: component, Version: version}}}
	if _, err := f.store.CreateDeployment(ctx, d, devices); err != nil {
		f.t.Fatal(err)
	}
}

// frame is one result's detection confidences.
type frame []float64

// send stores a result of each frame from device with model sha, at the
// clock's time.
func (f *fixture) send(device, sha string, frames ...frame) {
	f.t.Helper()
	for _, confs := range frames {
		f.seq++
		r := infer.Result{Schema: 1, MsgID: fmt.Sprintf("m-%d", f.seq), Model: infer.ModelRef{SHA256: sha}, Detections: []infer.Detection{}}
		for _, c := range confs {
			r.Detections = append(r.Detections, infer.Detection{Class: "scratch", Confidence: c, Box: infer.Box{Width: 5, Height: 5}})
		}
		b, _ := json.Marshal(r)
		if err := f.in.Result("vise/devices/"+device+"/inference/vise.inspect", b); err != nil {
			f.t.Fatal(err)
		}
	}
}

// minutes sends per minute from `from` (minutes after t0) to `to` the
// frames mix() gives, from each device.
func (f *fixture) minutes(from, to int, sha string, mix func() []frame, devices ...string) {
	for m := from; m < to; m++ {
		f.clock.set(t0.Add(time.Duration(m) * time.Minute))
		for _, d := range devices {
			f.send(d, sha, mix()...)
		}
	}
}

// A healthy line: one frame in ten has a confident scratch.
func healthy() []frame {
	return []frame{{0.85}, nil, nil, nil, nil, nil, nil, nil, nil, nil}
}

// A drifted one: half the frames have a doubtful scratch.
func shifted() []frame {
	return []frame{{0.4}, nil, {0.45}, nil, {0.35}, nil, {0.5}, nil, {0.3}, nil}
}

func engines(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, e := range []string{store.SQLite, store.Postgres} {
		t.Run(e, func(t *testing.T) { fn(t, newFixture(t, e)) })
	}
}

func (f *fixture) monitor(reg prometheus.Registerer) *quality.Monitor {
	return quality.New(quality.Options{Store: f.store, Window: 10 * time.Minute, Step: time.Minute, MinFrames: 20,
		Registerer: reg, Now: func() time.Time { return f.clock.now().Add(30 * time.Second) }})
}

// gauge reads one series of a gathered gauge; ok is false if it is absent.
func gauge(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (v float64, ok bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue next
				}
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func (f *fixture) events(typ string) []vise.QualityDrift {
	f.t.Helper()
	evs, err := f.store.Events(ctx, "", 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []vise.QualityDrift
	for _, ev := range evs {
		if ev.Type == typ {
			var d vise.QualityDrift
			json.Unmarshal(ev.Data, &d)
			out = append(out, d)
		}
	}
	return out
}

// The drift test: a canary period sets the baseline; the rollout's windows
// that look like it raise nothing; when a device's frames shift, one drift
// event, the metric and a marker follow, not before the shift; when they
// come back, a recovered event.
func TestDriftAgainstCanaryBaseline(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		sha := f.model("metal-tags", 1)
		f.devices("line", "cam-1", "cam-2", "cam-3", "cam-4")
		line := vise.Target{Kind: vise.TargetGroup, Name: "line"}
		f.deploy(line, "vise.model.metal-tags", "1.0.0", "cam-1", "cam-2") // the canary stage
		reg := prometheus.NewRegistry()
		m := f.monitor(reg)
		f.minutes(0, 30, sha, healthy, "cam-1", "cam-2")
		if b, err := m.Baseline(ctx, sha); err != nil || !strings.Contains(b.Missing, "canary stage") || !strings.Contains(b.Missing, "still running") {
			t.Fatalf("baseline during the canary: %+v, %v; want none yet, the canary still running", b, err)
		}
		f.clock.set(t0.Add(30 * time.Minute))
		f.deploy(line, "vise.model.metal-tags", "1.0.0", "cam-1", "cam-2", "cam-3", "cam-4") // the rollout
		b, err := m.Baseline(ctx, sha)
		if err != nil || b.Missing != "" || b.Frames != 600 || b.DefectRate != 0.1 || b.UncertainShare != 0 || b.MeanTopConfidence == nil || math.Abs(*b.MeanTopConfidence-0.85) > 1e-9 {
			t.Fatalf("baseline %+v, %v; want 600 frames of the canary, defect rate 0.1, confidence 0.85", b, err)
		}
		check := func(minute int) []vise.QualityDrift {
			f.clock.set(t0.Add(time.Duration(minute) * time.Minute))
			drifts, err := m.Check(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return drifts
		}
		for minute := 30; minute < 50; minute++ {
			f.minutes(minute, minute+1, sha, healthy, "cam-3")
			if d := check(minute); len(d) > 0 {
				t.Fatalf("minute %d, before any shift: drift %+v", minute, d)
			}
		}
		if n := len(f.events(vise.EventQualityDrift)); n != 0 {
			t.Fatalf("%d drift events before the shift", n)
		}
		if v, ok := gauge(t, reg, "vise_model_quality_drift", map[string]string{"device": "cam-3", "model": "metal-tags@1"}); !ok || v != 0 {
			t.Errorf("drift gauge before the shift = %v (present %v); want 0", v, ok)
		}
		first := -1
		for minute := 50; minute < 65; minute++ {
			f.minutes(minute, minute+1, sha, shifted, "cam-3")
			if d := check(minute); len(d) > 0 && first < 0 {
				first = minute
			}
		}
		if first < 0 {
			t.Fatal("no drift within 15 minutes of a shift from 10% to 50% defects")
		}
		drifts := f.events(vise.EventQualityDrift)
		if len(drifts) != 1 || drifts[0].Device != "cam-3" || drifts[0].Model != "metal-tags@1" || len(drifts[0].Departed) == 0 {
			t.Fatalf("drift events %+v; want one for cam-3 metal-tags@1 naming what departed", drifts)
		}
		t.Logf("drift raised %d minutes after the shift: %v", first-50, drifts[0].Departed)
		if v, _ := gauge(t, reg, "vise_model_quality_drift", map[string]string{"device": "cam-3", "model": "metal-tags@1"}); v != 1 {
			t.Errorf("drift gauge while drifting = %v; want 1", v)
		}
		if v, _ := gauge(t, reg, "vise_model_quality_window", map[string]string{"device": "cam-3", "measure": "defect_rate"}); v < 0.25 {
			t.Errorf("window defect rate gauge = %v; want the shifted rate", v)
		}
		for minute := 65; minute < 80; minute++ {
			f.minutes(minute, minute+1, sha, healthy, "cam-3")
			check(minute)
		}
		if n, r := len(f.events(vise.EventQualityDrift)), len(f.events(vise.EventQualityRecovered)); n != 1 || r != 1 {
			t.Errorf("%d drift and %d recovered events after the line came back; want 1 and 1", n, r)
		}
		// The dashboard's series: windows, the baseline and both markers.
		s, err := m.Series(ctx, "cam-3", t0.Add(30*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Markers) != 2 || s.Markers[0].Type != vise.EventQualityDrift || len(s.Baselines) != 1 || len(s.Points) < 40 {
			t.Errorf("series: %d points, baselines %+v, markers %+v", len(s.Points), s.Baselines, s.Markers)
		}
	})
}

// No baseline, no alarm: a model version deployed straight to a device, a
// whole group at once, or not known to the registry has its windows
// measured but never judged, and the baseline says why.
func TestNoCanaryNoAlarm(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		direct, whole := f.model("metal-tags", 1), f.model("metal-tags", 2)
		unknown := strings.Repeat("e", 64)
		f.devices("line", "cam-1", "cam-2")
		f.deploy(vise.Target{Kind: vise.TargetDevice, Name: "cam-1"}, "vise.model.metal-tags", "1.0.0", "cam-1")
		f.deploy(vise.Target{Kind: vise.TargetGroup, Name: "line"}, "vise.model.metal-tags", "2.0.0", "cam-1", "cam-2")
		reg := prometheus.NewRegistry()
		m := f.monitor(reg)
		// Wild swings on every model: would drift against any baseline.
		for minute := range 20 {
			mix := healthy
			if minute%2 == 1 {
				mix = shifted
			}
			f.minutes(minute, minute+1, direct, mix, "cam-1")
			f.minutes(minute, minute+1, whole, mix, "cam-2")
			f.minutes(minute, minute+1, unknown, mix, "cam-2")
			if d, err := m.Check(ctx); err != nil || len(d) > 0 {
				t.Fatalf("minute %d: drift %+v, %v; want none without a baseline", minute, d, err)
			}
		}
		if n := len(f.events(vise.EventQualityDrift)); n != 0 {
			t.Errorf("%d drift events without a baseline", n)
		}
		for sha, want := range map[string]string{direct: "first deployed to device cam-1 without a canary stage", whole: "whole of group line without a canary stage",
			unknown: "registry does not know this model"} {
			b, err := m.Baseline(ctx, sha)
			if err != nil || !strings.Contains(b.Missing, want) {
				t.Errorf("baseline of %s…: %+v, %v; want missing: %q", sha[:4], b, err, want)
			}
		}
		if _, ok := gauge(t, reg, "vise_model_quality_drift", nil); ok {
			t.Error("a drift gauge exists without a baseline; want none (no false alarm)")
		}
		if _, ok := gauge(t, reg, "vise_model_quality_window", map[string]string{"device": "cam-1", "measure": "defect_rate"}); !ok {
			t.Error("the window is not measured when there is no baseline; want it measured, only not judged")
		}
	})
}

// A result without a confidence (no detection, a detection that carries
// none, an unreadable image) does not pull the mean top confidence down,
// and an unreadable image is no frame at all.
func TestResultsWithoutConfidence(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		sha := f.model("metal-tags", 1)
		f.send("cam-1", sha, frame{0.8}, frame{0.4}, nil, frame{0}) // the last: a detection without a confidence
		raw := `{"schema":1,"msg_id":"broken","model":{"sha256":"` + sha + `"},"error":"not a usable image","detections":[]}`
		if err := f.in.Result("vise/devices/cam-1/inference/vise.inspect", []byte(raw)); err != nil {
			t.Fatal(err)
		}
		bs, err := f.store.QualityBuckets(ctx, store.QualityFilter{Device: "cam-1", From: t0.Add(-time.Hour), To: t0.Add(time.Hour), Bucket: time.Hour,
			Uncertain: vise.DefaultUncertainWindow})
		if err != nil || len(bs) != 1 {
			t.Fatalf("buckets %+v, %v; want one", bs, err)
		}
		b := bs[0]
		if b.Frames != 4 || b.Defects != 3 || b.Scored != 2 || b.Uncertain != 1 || math.Abs(b.SumTop-1.2) > 1e-9 {
			t.Errorf("bucket %+v; want 4 frames, 3 with a detection, 2 with a confidence summing 1.2, 1 uncertain", b)
		}
		f.send("cam-2", sha, nil, nil)
		m := f.monitor(nil)
		s, err := m.Series(ctx, "cam-2", t0.Add(-5*time.Minute))
		if err != nil || len(s.Points) == 0 || s.Points[0].MeanTopConfidence != nil {
			t.Errorf("series of frames without detections: %+v, %v; want points with no mean top confidence", s, err)
		}
	})
}

func TestOptionsRefused(t *testing.T) {
	tests := []struct {
		o    quality.Options
		want string
	}{
		{quality.Options{Window: time.Minute, Step: time.Hour}, "step 1h0m0s is longer than the window 1m0s"},
		{quality.Options{Window: -time.Minute}, "must be positive"},
		{quality.Options{Margin: &quality.Margin{DefectRate: -0.1}}, "margins are not negative"},
		{quality.Options{MinFrames: -1}, "min frames -1"},
	}
	for _, tt := range tests {
		if err := tt.o.Check(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Check(%+v) = %v; want %q", tt.o, err, tt.want)
		}
	}
}

func TestParseMargin(t *testing.T) {
	m, err := quality.ParseMargin("defect_rate=0.2, uncertain=0")
	if err != nil || *m != (quality.Margin{DefectRate: 0.2, TopConfidence: quality.DefaultMargin.TopConfidence, Uncertain: 0}) {
		t.Errorf("ParseMargin = %+v, %v", m, err)
	}
	for in, want := range map[string]string{"defect=0.2": `unknown measure "defect"`, "uncertain=-1": "value from 0 to 1", "top_confidence": "MEASURE=VALUE"} {
		if _, err := quality.ParseMargin(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseMargin(%q) = %v; want %q", in, err, want)
		}
	}
}
