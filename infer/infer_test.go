package infer

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"testing"
)

func loadGolden(t testing.TB) (g struct {
	NetW   int `json:"net_w"`
	NetH   int `json:"net_h"`
	NC     int `json:"nc"`
	N      int `json:"n"`
	Images map[string]struct {
		Scale  float64 `json:"scale"`
		PadX   int     `json:"pad_x"`
		PadY   int     `json:"pad_y"`
		Width  int     `json:"width"`
		Height int     `json:"height"`
	} `json:"images"`
	Detections []Detection `json:"detections"`
}) {
	b, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// Decoding and NMS agree with an independent numpy implementation to
// within a pixel.
func TestDecodeMatchesNumpy(t *testing.T) {
	g := loadGolden(t)
	raw := readRaw(t, "testdata/raw.bin", (4+g.NC)*g.N)
	im := g.Images["tag-a.jpg"]
	lb := NewLetterbox(im.Width, im.Height, g.NetW, g.NetH)
	p := Post{Confidence: 0.25, IoU: 0.45, MaxDet: 1000}
	got, err := p.Decode(raw, g.NC, g.N, lb)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(g.Detections) {
		t.Fatalf("%d detections, numpy finds %d", len(got), len(g.Detections))
	}
	for i, w := range g.Detections {
		d := got[i]
		if d.ClassID != w.ClassID || math.Abs(d.Confidence-w.Confidence) > 1e-6 ||
			math.Abs(d.Box.X-w.Box.X) > 1 || math.Abs(d.Box.Y-w.Box.Y) > 1 ||
			math.Abs(d.Box.Width-w.Box.Width) > 1 || math.Abs(d.Box.Height-w.Box.Height) > 1 {
			t.Errorf("detection %d = %+v, numpy %+v", i, d, w)
		}
	}
	// Buffers are reused: a second decode gives the same answer.
	again, _ := p.Decode(raw, g.NC, g.N, lb)
	if len(again) != len(got) || again[0] != got[0] {
		t.Error("a second decode differs")
	}
}

func readRaw(t testing.TB, path string, n int) []float32 {
	b, err := os.ReadFile(path)
	if err != nil || len(b) != 4*n {
		t.Fatalf("%s: %d bytes, %v; want %d floats", path, len(b), err, n)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func TestNewLetterboxGeometry(t *testing.T) {
	tests := []struct {
		w, h, nw, nh int
		scale        float64
		padX, padY   int
	}{
		{1280, 720, 640, 640, 0.5, 0, 140},
		{450, 300, 640, 640, 640.0 / 450, 0, 106}, // 213 rows of padding: 106 on top, 107 below, as round(d ± 0.1) splits it
		{300, 450, 640, 640, 640.0 / 450, 106, 0},
		{640, 640, 640, 640, 1, 0, 0},
	}
	for _, tt := range tests {
		lb := NewLetterbox(tt.w, tt.h, tt.nw, tt.nh)
		if math.Abs(lb.Scale-tt.scale) > 1e-9 || lb.PadX != tt.padX || lb.PadY != tt.padY {
			t.Errorf("%dx%d into %dx%d: scale %v pad %d,%d; want %v pad %d,%d", tt.w, tt.h, tt.nw, tt.nh, lb.Scale, lb.PadX, lb.PadY, tt.scale, tt.padX, tt.padY)
		}
	}
}
