package labels_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/labels"
	"github.com/vise-edge/vise/store"
)

// BenchmarkQueue measures a page of the labelling queue (100 images,
// uncertain first, with the sync before it) against a page of results,
// the baseline, on one SQLite store of 5000 results with images:
//
//	go test ./labels -run '^$' -bench Queue -benchmem
func BenchmarkQueue(b *testing.B) {
	s, err := store.Open(ctx, store.Options{URL: filepath.Join(b.TempDir(), "vise.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 5000
	for i := range n {
		r := infer.Result{Schema: 1, MsgID: fmt.Sprintf("m-%05d", i), Image: infer.ImageRef{Width: 450, Height: 300}}
		if i%3 == 0 {
			r.Detections = []infer.Detection{det(0.2+float64(i%8)/10, 10, 10, 50, 40)}
		}
		payload, _ := json.Marshal(r)
		var msg map[string]any
		json.Unmarshal(payload, &msg)
		msg["image"].(map[string]any)["stored"] = fmt.Sprintf("%064x", i)
		payload, _ = json.Marshal(msg)
		if _, err := s.InsertResult(ctx, vise.Result{MsgID: r.MsgID, Device: fmt.Sprintf("cam-%d", i%10), Component: "vise.inspect", Defects: len(r.Detections), Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	svc := labels.New(labels.Options{Store: s})
	start := time.Now()
	if err := svc.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("first sync of %d results: %s", n, time.Since(start))
	b.Run("results-baseline", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.ListResults(ctx, "", time.Time{}, 100); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("queue", func(b *testing.B) {
		for b.Loop() {
			if ims, err := svc.List(ctx, vise.LabelFilter{State: vise.LabelNew, Limit: 100}); err != nil || len(ims) != 100 {
				b.Fatal(len(ims), err)
			}
		}
	})
	b.Run("store-list-only", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.ListLabelImages(ctx, vise.LabelFilter{State: vise.LabelNew, Limit: 100}, svc.Window()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("queue-device-uncertain", func(b *testing.B) {
		for b.Loop() {
			if _, err := svc.List(ctx, vise.LabelFilter{Device: "cam-3", Reason: vise.ReasonUncertain, Limit: 100}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
