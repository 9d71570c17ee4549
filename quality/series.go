package quality

import (
	"context"
	"encoding/json"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// MaxPoints bounds the windows of one series (per model).
const MaxPoints = 2000

// Series is a device's windows from `since` to now, one every Step, per
// model, with the models' baselines and the drift markers: what the
// Inspection page plots.
func (m *Monitor) Series(ctx context.Context, device string, since time.Time) (*vise.QualitySeries, error) {
	now, step, window := m.o.Now(), m.o.Step, m.o.Window
	if n := now.Sub(since) / step; n > MaxPoints {
		since = now.Add(-MaxPoints * step)
	}
	since = since.Truncate(step)
	bs, err := m.o.Store.QualityBuckets(ctx, store.QualityFilter{Device: device, From: since.Add(-window), To: now.Add(1), Bucket: step, Uncertain: *m.o.Uncertain})
	if err != nil {
		return nil, err
	}
	s := &vise.QualitySeries{Device: device, From: since, To: now, Window: window.String(), Step: step.String(), Points: []vise.QualityPoint{},
		Baselines: []vise.QualityBaseline{}, Markers: []vise.QualityDrift{}}
	byModel := map[string][]store.QualityBucket{}
	var models []string
	for _, b := range bs {
		if byModel[b.Model] == nil {
			models = append(models, b.Model)
		}
		byModel[b.Model] = append(byModel[b.Model], b)
	}
	for _, sha := range models {
		base, err := m.Baseline(ctx, sha)
		if err != nil {
			return nil, err
		}
		s.Baselines = append(s.Baselines, *base)
		s.Points = append(s.Points, slide(byModel[sha], base.Model, since, now, step, window)...)
	}
	evs, err := m.o.Store.SubjectEvents(ctx, device, []string{vise.EventQualityDrift, vise.EventQualityRecovered}, since, 1000)
	if err != nil {
		return nil, err
	}
	for _, ev := range evs {
		var d vise.QualityDrift
		if json.Unmarshal(ev.Data, &d) == nil {
			d.Type = ev.Type
			s.Markers = append(s.Markers, d)
		}
	}
	return s, nil
}

// slide turns one model's buckets (in time order) into the windows ending
// at each step from since to now; windows without frames are left out.
func slide(bs []store.QualityBucket, model string, since, now time.Time, step, window time.Duration) []vise.QualityPoint {
	var pts []vise.QualityPoint
	var sum store.QualityBucket
	in, out := 0, 0 // buckets added to and taken from sum
	for end := since.Add(step); end.Before(now.Add(step)); end = end.Add(step) {
		for in < len(bs) && bs[in].Start.Before(end) {
			add(&sum, bs[in])
			in++
		}
		for out < in && bs[out].Start.Before(end.Add(-window)) {
			sub(&sum, bs[out])
			out++
		}
		if sum.Frames > 0 {
			pts = append(pts, vise.QualityPoint{At: minTime(end, now), Model: model, QualityStats: stats(sum)})
		}
	}
	return pts
}

func sub(a *store.QualityBucket, b store.QualityBucket) {
	a.Frames -= b.Frames
	a.Defects -= b.Defects
	a.Scored -= b.Scored
	a.Uncertain -= b.Uncertain
	a.SumTop -= b.SumTop
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
