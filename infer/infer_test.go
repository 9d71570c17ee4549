package infer

import (
	"encoding/binary"
	"encoding/json"
	"image"
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

// The letterbox matches Ultralytics' (cv2.imread, then its LetterBox) to
// within the rounding of OpenCV's fixed-point resize and the two JPEG
// decoders' IDCTs: a fraction of a level on average, a few at worst.
func TestLetterboxMatchesOpenCV(t *testing.T) {
	g := loadGolden(t)
	if len(g.Images) < 3 {
		t.Fatalf("golden.json has %d images; regenerate it with golden.py", len(g.Images))
	}
	for name, want := range g.Images {
		img, err := LoadImage("testdata/"+name, 0)
		if err != nil {
			t.Fatal(err)
		}
		lb := NewLetterbox(want.Width, want.Height, g.NetW, g.NetH)
		if math.Abs(lb.Scale-want.Scale) > 1e-9 || lb.PadX != want.PadX || lb.PadY != want.PadY {
			t.Errorf("%s: geometry scale %v pad %d,%d; OpenCV reference %v pad %d,%d", name, lb.Scale, lb.PadX, lb.PadY, want.Scale, want.PadX, want.PadY)
		}
		buf := make([]float32, 3*g.NetW*g.NetH)
		lb.Fill(img.Img, buf)
		mean, worst := diffLevels(t, buf, "testdata/"+name+".letterbox-320x256.png", g.NetW, g.NetH)
		if mean > 0.25 || worst > 4 {
			t.Errorf("%s: letterbox differs from OpenCV: mean |diff| %.2f levels, worst %.0f", name, mean, worst)
		}
		t.Logf("%s: mean |diff| %.3f levels, worst %.0f", name, mean, worst)
		for x := 0; x < g.NetW; x++ { // the padding is exactly gray 114
			if v := buf[x]; math.Abs(float64(v)*255-114) > 1e-3 {
				t.Fatalf("%s: padding pixel %d = %v, want 114/255", name, x, v*255)
			}
		}
	}
}

// diffLevels compares an NCHW 0..1 tensor with an RGB PNG, in 0..255 levels.
func diffLevels(t *testing.T, buf []float32, png string, w, h int) (mean, worst float64) {
	t.Helper()
	f, err := os.Open(png)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ref, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	plane := w * h
	var sum float64
	for y := range h {
		for x := range w {
			r, g, b, _ := ref.At(x, y).RGBA()
			for c, v := range []uint32{r >> 8, g >> 8, b >> 8} {
				d := math.Abs(float64(buf[c*plane+y*w+x])*255 - float64(v))
				sum += d
				worst = math.Max(worst, d)
			}
		}
	}
	return sum / float64(3*plane), worst
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
