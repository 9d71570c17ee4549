package infer

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// output builds a [1, 4+nc, n] tensor from per-anchor boxes and scores.
func output(nc int, anchors ...[]float32) []float32 {
	n := len(anchors)
	out := make([]float32, (4+nc)*n)
	for i, a := range anchors {
		for row, v := range a {
			out[row*n+i] = v
		}
	}
	return out
}

func TestDecodeRules(t *testing.T) {
	lb := NewLetterbox(640, 640, 640, 640) // identity geometry
	tests := []struct {
		name    string
		post    Post
		anchors [][]float32 // cx, cy, w, h, scores...
		want    []Detection
	}{
		{"same class overlapping: the weaker is suppressed", Post{},
			[][]float32{{100, 100, 40, 40, 0.9, 0}, {102, 100, 40, 40, 0.8, 0}},
			[]Detection{{Class: "a", ClassID: 0, Confidence: 0.9, Box: box(80, 80, 40, 40)}}},
		{"other class overlapping: both kept", Post{},
			[][]float32{{100, 100, 40, 40, 0.9, 0}, {102, 100, 40, 40, 0, 0.8}},
			[]Detection{{Class: "a", Confidence: 0.9, Box: box(80, 80, 40, 40)}, {Class: "b", ClassID: 1, Confidence: 0.8, Box: box(82, 80, 40, 40)}}},
		{"a score equal to the threshold is dropped", Post{Confidence: 0.5},
			[][]float32{{100, 100, 40, 40, 0.5, 0}},
			[]Detection{}},
		{"the cap keeps the best", Post{MaxDet: 1},
			[][]float32{{100, 100, 10, 10, 0.7, 0}, {300, 300, 10, 10, 0.9, 0}},
			[]Detection{{Class: "a", Confidence: 0.9, Box: box(295, 295, 10, 10)}}},
		{"boxes are clipped to the image", Post{},
			[][]float32{{10, 630, 40, 40, 0.9, 0}},
			[]Detection{{Class: "a", Confidence: 0.9, Box: box(0, 610, 30, 30)}}},
	}
	for _, tt := range tests {
		tt.post.Classes = []string{"a", "b"}
		got, err := tt.post.Decode(output(2, tt.anchors...), 2, len(tt.anchors), lb)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got { // float32 scores: compare at float32 precision
			got[i].Confidence = float64(float32(got[i].Confidence))
		}
		for i := range tt.want {
			tt.want[i].Confidence = float64(float32(tt.want[i].Confidence))
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestDecodeRefusesWrongSize(t *testing.T) {
	var p Post
	if _, err := p.Decode(make([]float32, 10), 2, 3, NewLetterbox(1, 1, 1, 1)); err == nil {
		t.Error("a tensor of the wrong size was decoded")
	}
	if _, err := p.Decode(make([]float32, 12), 0, 3, NewLetterbox(1, 1, 1, 1)); err == nil {
		t.Error("an output without classes was decoded")
	}
}
