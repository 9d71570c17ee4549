package quality

import (
	"context"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// Check judges the window ending now of every device and model that sent
// results in it, raises drift and recovered events on a change, and
// updates the metrics. It returns the windows that drift.
func (m *Monitor) Check(ctx context.Context) ([]vise.QualityDrift, error) {
	now := m.o.Now()
	bs, err := m.o.Store.QualityBuckets(ctx, store.QualityFilter{From: now.Add(-m.o.Window), To: now.Add(1), Bucket: m.o.Step, Uncertain: *m.o.Uncertain})
	if err != nil {
		return nil, err
	}
	sums := map[key]*store.QualityBucket{}
	var order []key
	for _, b := range bs {
		k := key{b.Device, b.Model}
		if sums[k] == nil {
			sums[k] = &store.QualityBucket{}
			order = append(order, k)
		}
		add(sums[k], b)
	}
	var drifts []vise.QualityDrift
	for _, k := range order {
		d, judged, err := m.judge(ctx, k, stats(*sums[k]), now)
		if err != nil {
			return drifts, err
		}
		if judged && len(d.Departed) > 0 {
			drifts = append(drifts, d)
		}
	}
	return drifts, nil
}

// judge compares one window with its baseline and records a change of
// state; judged is false when the window is too small or there is no
// baseline to judge it by.
func (m *Monitor) judge(ctx context.Context, k key, w vise.QualityStats, now time.Time) (d vise.QualityDrift, judged bool, err error) {
	base, err := m.Baseline(ctx, k.sha)
	if err != nil {
		return d, false, err
	}
	d = vise.QualityDrift{Device: k.device, Model: base.Model, SHA256: k.sha, At: now, Window: w, Baseline: base.QualityStats}
	m.metrics.window(k.device, base.Model, w)
	if base.Missing != "" {
		m.tell(k.sha, base)
		return d, false, nil
	}
	if w.Frames < m.o.MinFrames {
		return d, false, nil
	}
	d.Departed = departed(w, base.QualityStats, *m.o.Margin)
	drifting := len(d.Departed) > 0
	m.mu.Lock()
	was := m.drifting[k]
	m.drifting[k] = drifting
	m.mu.Unlock()
	m.metrics.drift(k.device, base.Model, drifting)
	if drifting == was {
		return d, true, nil
	}
	typ := vise.EventQualityRecovered
	if drifting {
		typ = vise.EventQualityDrift
		m.o.Logger.Warn("model quality departed from its baseline", "device", k.device, "model", base.Model, "departed", d.Departed)
	} else {
		m.o.Logger.Info("model quality back within its margins", "device", k.device, "model", base.Model)
	}
	if err := m.o.Store.RecordEvent(ctx, typ, k.device, d); err != nil {
		m.mu.Lock()
		m.drifting[k] = was // tell again at the next check
		m.mu.Unlock()
		return d, true, err
	}
	return d, true, nil
}

// tell logs once per model and reason why its windows are not judged.
func (m *Monitor) tell(sha string, b *vise.QualityBaseline) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.told[sha] != b.Missing {
		m.told[sha] = b.Missing
		m.o.Logger.Info("model quality not judged: no baseline", "model", b.Model, "why", b.Missing)
	}
}
