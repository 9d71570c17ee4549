package infer

import (
	"fmt"
	"time"
)

// Synthetic is a plausible result for the seq-th image of a camera, the
// one shape that load tests, the fleet simulator and storage benchmarks
// share, so their figures speak of the same rows. Every tenth image has a
// scratch. MsgID, Device and Component are the caller's.
func Synthetic(seq int, at time.Time) Result {
	r := Result{Schema: Schema,
		Model:      ModelRef{Name: "metal-tags", Version: "1", SHA256: "9f2c1d6a4b3e8f7a0c5d2e1b6a9f8c7d3e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c"},
		Image:      ImageRef{Name: fmt.Sprintf("tag-%06d.jpg", seq), Width: 450, Height: 300},
		CapturedAt: at.Add(-25 * time.Millisecond), InferredAt: at,
		LatencyMS:  Latency{Pre: 2.1, Infer: 18.4, Post: 0.3},
		Detections: []Detection{},
	}
	if seq%10 == 0 {
		r.Detections = append(r.Detections, Detection{Class: "scratch", Confidence: 0.91, Box: Box{X: 81, Y: 123, Width: 82, Height: 97}})
	}
	return r
}
