package infer

import (
	"math"
	"testing"
)

func box(x, y, w, h float64) Box { return Box{X: x, Y: y, Width: w, Height: h} }

func TestMAP(t *testing.T) {
	gt := []GroundTruth{{0, box(10, 10, 20, 20)}, {0, box(100, 100, 40, 20)}}
	det := func(b Box, conf float64) Detection { return Detection{ClassID: 0, Confidence: conf, Box: b} }
	tests := []struct {
		name        string
		dets        []Detection
		want50      float64
		want5095Max float64
	}{
		{"perfect", []Detection{det(gt[0].Box, 0.9), det(gt[1].Box, 0.8)}, 1, 1},
		{"nothing found", nil, 0, 0},
		{"half found", []Detection{det(gt[0].Box, 0.9)}, 51.0 / 101, 51.0 / 101},
		// A false positive ranked above both true positives costs precision.
		{"false positive first", []Detection{det(box(300, 300, 10, 10), 0.99), det(gt[0].Box, 0.9), det(gt[1].Box, 0.8)}, 2.0 / 3, 2.0 / 3},
		// Shifted by a quarter of its width: IoU 0.6, found at 0.5 but not at 0.75.
		{"loose box", []Detection{det(box(15, 10, 20, 20), 0.9), det(gt[1].Box, 0.8)}, 1, 0.8},
	}
	for _, tt := range tests {
		m50, m5095 := MAP([]Scored{{Detections: tt.dets, Truth: gt}}, 1)
		if math.Abs(m50-tt.want50) > 1e-9 {
			t.Errorf("%s: mAP50 = %.4f, want %.4f", tt.name, m50, tt.want50)
		}
		if m5095 > tt.want5095Max+1e-9 || m5095 > m50+1e-9 {
			t.Errorf("%s: mAP50-95 = %.4f, want at most %.4f and at most mAP50", tt.name, m5095, tt.want5095Max)
		}
	}
	// Classes without labels do not count; an image with no labels adds
	// only false positives.
	m50, _ := MAP([]Scored{{Detections: []Detection{det(gt[0].Box, 0.9), det(gt[1].Box, 0.8)}, Truth: gt}, {}}, 3)
	if m50 != 1 {
		t.Errorf("unlabelled classes changed mAP50 to %v", m50)
	}
}
