package quality_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/store"
)

// benchResults stores n results of one device over the hour before t0 as
// ingest indexes them, with realistic payloads.
func benchStore(b *testing.B, n int) *store.Store {
	b.Helper()
	c := &clock{t: t0.Add(-time.Hour)}
	s, err := store.Open(ctx, store.Options{URL: filepath.Join(b.TempDir(), "vise.db"), Now: c.now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	sha := fmt.Sprintf("%064x", 1)
	batch := make([]vise.Result, 0, 1000)
	for i := range n {
		r := infer.Result{Schema: 1, MsgID: fmt.Sprintf("m-%d", i), Model: infer.ModelRef{Name: "metal-tags", Version: "1", SHA256: sha},
			Image: infer.ImageRef{Name: "tag.jpg", Width: 450, Height: 300}, Detections: []infer.Detection{}}
		var top *float64
		if i%5 == 0 {
			conf := 0.3 + float64(i%7)/10
			r.Detections = append(r.Detections, infer.Detection{Class: "scratch", Confidence: conf, Box: infer.Box{X: 1, Y: 2, Width: 30, Height: 40}})
			top = &conf
		}
		p, _ := json.Marshal(r)
		batch = append(batch, vise.Result{MsgID: r.MsgID, Device: "cam-1", Component: "vise.inspect", Defects: len(r.Detections), Payload: p,
			ModelSHA256: sha, TopConfidence: top})
		if len(batch) == cap(batch) {
			c.set(c.now().Add(time.Hour * time.Duration(len(batch)) / time.Duration(n)))
			if _, err := s.InsertResults(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return s
}

const benchN = 20000

// BenchmarkWindowAggregate is one hour's window of one device as the
// monitor computes it: one SQL aggregate over the indexed columns.
func BenchmarkWindowAggregate(b *testing.B) {
	s := benchStore(b, benchN)
	f := store.QualityFilter{Device: "cam-1", From: t0.Add(-2 * time.Hour), To: t0.Add(time.Hour), Bucket: 5 * time.Minute, Uncertain: vise.DefaultUncertainWindow}
	for b.Loop() {
		bs, err := s.QualityBuckets(ctx, f)
		if err != nil || len(bs) == 0 {
			b.Fatal(bs, err)
		}
	}
}

// BenchmarkWindowFromPayloads is the baseline: the same window from
// reading every result's payload and parsing it in Go.
func BenchmarkWindowFromPayloads(b *testing.B) {
	s := benchStore(b, benchN)
	for b.Loop() {
		var frames, defects, scored int
		var sum float64
		var before time.Time
		for {
			rs, more, err := s.ListResultsBefore(ctx, "cam-1", t0.Add(-2*time.Hour), before, 1000)
			if err != nil {
				b.Fatal(err)
			}
			for _, r := range rs {
				var res infer.Result
				json.Unmarshal(r.Payload, &res)
				frames++
				if len(res.Detections) > 0 {
					defects++
					scored++
					sum += res.Detections[0].Confidence
				}
			}
			if !more || len(rs) == 0 {
				break
			}
			before = rs[len(rs)-1].ReceivedAt
		}
		if frames != benchN {
			b.Fatalf("%d frames, want %d", frames, benchN)
		}
	}
}
