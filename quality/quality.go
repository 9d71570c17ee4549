// Package quality watches deployed models for drift: per device and model
// version it sums stored results over sliding windows (defect rate, mean
// top confidence, share of uncertain frames), compares each window with
// the model version's baseline from its canary period, and raises an
// event, a Prometheus metric and a dashboard marker when a window departs
// from the baseline by more than a margin.
package quality

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// Margin is how far a window may move from its baseline before it counts
// as drift, per measure, in absolute terms (0.15 is 15 percentage points
// of defect rate). Zero leaves a measure unwatched.
type Margin struct {
	DefectRate    float64
	TopConfidence float64
	Uncertain     float64
}

// Options configure a Monitor. Zero values take the defaults noted.
type Options struct {
	Store *store.Store
	// Window is the sliding window's length; default 1h. Step is the
	// bucket the windows slide by; default 5m.
	Window, Step time.Duration
	// Uncertain is the top-confidence window of an uncertain frame;
	// default vise.DefaultUncertainWindow.
	Uncertain *vise.ConfidenceWindow
	// Margin defaults to 0.15 defect rate, 0.1 top confidence, 0.15 uncertain.
	Margin *Margin
	// MinFrames is the fewest frames a window or a baseline needs to be
	// judged; default 50.
	MinFrames int64
	// Every is how often Run checks; default Step.
	Every      time.Duration
	Registerer prometheus.Registerer // default: none
	Logger     *slog.Logger
	Now        func() time.Time
}

// DefaultMargin is the margin when none is configured.
var DefaultMargin = Margin{DefectRate: 0.15, TopConfidence: 0.1, Uncertain: 0.15}

func (o *Options) setDefaults() {
	if o.Window == 0 {
		o.Window = time.Hour
	}
	if o.Step == 0 {
		o.Step = 5 * time.Minute
	}
	if o.Uncertain == nil {
		o.Uncertain = &vise.DefaultUncertainWindow
	}
	if o.Margin == nil {
		o.Margin = &DefaultMargin
	}
	if o.MinFrames == 0 {
		o.MinFrames = 50
	}
	if o.Every == 0 {
		o.Every = o.Step
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Check refuses options that cannot work; the error names the setting.
func (o Options) Check() error {
	m := o.Margin
	switch {
	case o.Window < 0 || o.Step < 0:
		return fmt.Errorf("quality window %s and step %s must be positive", o.Window, o.Step)
	case o.Window != 0 && o.Step != 0 && o.Step > o.Window:
		return fmt.Errorf("quality step %s is longer than the window %s", o.Step, o.Window)
	case m != nil && (m.DefectRate < 0 || m.TopConfidence < 0 || m.Uncertain < 0):
		return fmt.Errorf("quality margin %+v: margins are not negative (0 leaves a measure unwatched)", *m)
	case o.MinFrames < 0:
		return fmt.Errorf("quality min frames %d must not be negative", o.MinFrames)
	}
	return nil
}

// Monitor judges model-quality windows against baselines.
type Monitor struct {
	o         Options
	metrics   *metrics
	mu        sync.Mutex
	drifting  map[key]bool
	baselines map[string]*vise.QualityBaseline // final ones, by model sha256
	told      map[string]string                // sha256 → the missing-baseline reason last logged
}

type key struct{ device, sha string }

// New makes a monitor; Check the options first.
func New(o Options) *Monitor {
	o.setDefaults()
	return &Monitor{o: o, metrics: newMetrics(o.Registerer), drifting: map[key]bool{},
		baselines: map[string]*vise.QualityBaseline{}, told: map[string]string{}}
}

// Run checks every Every until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	for {
		if _, err := m.Check(ctx); err != nil && ctx.Err() == nil {
			m.o.Logger.Warn("model-quality check", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(m.o.Every):
		}
	}
}

// stats turns summed buckets into the figures.
func stats(b store.QualityBucket) vise.QualityStats {
	s := vise.QualityStats{Frames: b.Frames}
	if b.Frames > 0 {
		s.DefectRate = float64(b.Defects) / float64(b.Frames)
		s.UncertainShare = float64(b.Uncertain) / float64(b.Frames)
	}
	if b.Scored > 0 {
		mean := b.SumTop / float64(b.Scored)
		s.MeanTopConfidence = &mean
	}
	return s
}

func add(a *store.QualityBucket, b store.QualityBucket) {
	a.Frames += b.Frames
	a.Defects += b.Defects
	a.Scored += b.Scored
	a.Uncertain += b.Uncertain
	a.SumTop += b.SumTop
}

// departed lists the measures of w that are further from b than the margin.
func departed(w, b vise.QualityStats, m Margin) []string {
	var out []string
	off := func(name string, got, base, margin float64) {
		if margin > 0 && math.Abs(got-base) > margin {
			out = append(out, fmt.Sprintf("%s %.3f vs baseline %.3f (margin %.3f)", name, got, base, margin))
		}
	}
	off("defect_rate", w.DefectRate, b.DefectRate, m.DefectRate)
	if w.MeanTopConfidence != nil && b.MeanTopConfidence != nil {
		off("mean_top_confidence", *w.MeanTopConfidence, *b.MeanTopConfidence, m.TopConfidence)
	}
	off("uncertain_share", w.UncertainShare, b.UncertainShare, m.Uncertain)
	return out
}
