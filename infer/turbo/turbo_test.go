package turbo_test

import (
	"encoding/json"
	"image"
	_ "image/png"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/infer/turbo"
)

const full = 1 << 30 // a minimum size no image reaches: decode unscaled

func decode(t testing.TB, d *turbo.Decoder, b []byte, minW, minH int) infer.Pixels {
	t.Helper()
	hdr, err := d.Header(b)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Decode(b, hdr, minW, minH)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func newDecoder(t testing.TB) *turbo.Decoder {
	d, err := turbo.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

// Unscaled, libjpeg-turbo and the fused fill give what Ultralytics gets
// from cv2.imread and its LetterBox (golden PNGs made by
// ../testdata/golden.py) to within one grey level, everywhere.
func TestFillMatchesOpenCV(t *testing.T) {
	var g struct {
		NetW   int            `json:"net_w"`
		NetH   int            `json:"net_h"`
		Images map[string]any `json:"images"`
	}
	b, err := os.ReadFile("../testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &g); err != nil || len(g.Images) < 3 {
		t.Fatalf("golden.json: %v, %d images", err, len(g.Images))
	}
	d := newDecoder(t)
	var f infer.Filler
	for name := range g.Images {
		jpg, err := os.ReadFile("../testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		p := decode(t, d, jpg, full, full)
		buf := make([]float32, 3*g.NetW*g.NetH)
		f.Fill(infer.NewLetterbox(p.Width, p.Height, g.NetW, g.NetH), p, buf)
		mean, worst := diffLevels(t, buf, "../testdata/"+name+".letterbox-320x256.png", g.NetW, g.NetH)
		t.Logf("%s: mean |diff| %.4f levels, worst %.0f", name, mean, worst)
		if worst > 1+1e-3 { // float32 rounding of the 0..1 scale
			t.Errorf("%s: differs from OpenCV by up to %.0f levels (mean %.3f); want at most 1", name, worst, mean)
		}
	}
}

// diffLevels compares an NCHW 0..1 tensor with an RGB PNG, in 0..255 levels.
func diffLevels(t *testing.T, buf []float32, path string, w, h int) (mean, worst float64) {
	t.Helper()
	f, err := os.Open(path)
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

func TestScale(t *testing.T) {
	tests := []struct {
		w, h, minW, minH int
		want             turbo.Factor
	}{
		{2448, 2048, 320, 320, turbo.Factor{Num: 1, Denom: 4}}, // 612x512; 1/8 would be 306 wide
		{1280, 720, 320, 320, turbo.Factor{Num: 1, Denom: 2}},  // 640x360; 3/8 would be 270 high
		{450, 300, 320, 320, turbo.Factor{Num: 1, Denom: 1}},   // already below the input
		{2560, 2560, 320, 320, turbo.Factor{Num: 1, Denom: 8}},
		{1, 1, 320, 320, turbo.Factor{Num: 1, Denom: 1}},
		{2448, 2048, full, full, turbo.Factor{Num: 1, Denom: 1}},
	}
	for _, tt := range tests {
		if got := turbo.Scale(tt.w, tt.h, tt.minW, tt.minH); got != tt.want {
			t.Errorf("Scale(%dx%d, min %dx%d) = %v, want %v", tt.w, tt.h, tt.minW, tt.minH, got, tt.want)
		}
	}
}

// A DCT-scaled decode has the scaled size and, letterboxed, stays close
// to the full decode letterboxed: the network sees the same picture.
func TestDecodeScaled(t *testing.T) {
	jpg := frame(t, 1280, 720)
	d := newDecoder(t)
	lb := infer.NewLetterbox(1280, 720, 320, 320)
	var f infer.Filler
	fullT, scaledT := make([]float32, 3*320*320), make([]float32, 3*320*320)
	p := decode(t, d, jpg, full, full)
	f.Fill(lb, p, fullT)
	p = decode(t, d, jpg, 320, 320)
	if p.Width != 640 || p.Height != 360 || p.Channels != 3 || len(p.Pix) != 640*360*3 {
		t.Fatalf("scaled decode %dx%dx%d (%d bytes), want 640x360x3", p.Width, p.Height, p.Channels, len(p.Pix))
	}
	f.Fill(lb, p, scaledT)
	var sum float64
	for i := range fullT {
		sum += math.Abs(float64(fullT[i]-scaledT[i])) * 255
	}
	if mean := sum / float64(len(fullT)); mean > 2 {
		t.Errorf("scaled decode differs from the full one by %.2f levels on average after the letterbox", mean)
	}
}

// frame is a w x h RGB JPEG of smooth gradients and a few edges.
func frame(t testing.TB, w, h int) []byte {
	p := infer.Pixels{Pix: make([]byte, 3*w*h), Width: w, Height: h, Channels: 3}
	for y := range h {
		for x := range w {
			i := 3 * (y*w + x)
			p.Pix[i], p.Pix[i+1], p.Pix[i+2] = byte(x*255/w), byte(y*255/h), byte(((x/64)^(y/64))&1*200)
		}
	}
	b, err := turbo.Encode(p, turbo.EncodeOptions{Quality: 90})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func solid(ch, w, h int, v ...byte) infer.Pixels {
	p := infer.Pixels{Pix: make([]byte, ch*w*h), Width: w, Height: h, Channels: ch}
	for i := range p.Pix {
		p.Pix[i] = v[i%ch]
	}
	return p
}

// Each kind of JPEG a camera or a person might drop in the folder.
func TestDecodeKinds(t *testing.T) {
	enc := func(p infer.Pixels, progressive bool) []byte {
		b, err := turbo.Encode(p, turbo.EncodeOptions{Quality: 95, Progressive: progressive})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name     string
		jpg      []byte
		channels int
		want     []byte // every pixel, within 3 levels
	}{
		{"gray decodes as one channel", enc(solid(1, 40, 30, 90), false), 1, []byte{90}},
		{"progressive", enc(solid(3, 40, 30, 200, 40, 90), true), 3, []byte{200, 40, 90}},
		// Adobe CMYK is stored inverted: 255 means no ink. C=0 M=0.5 Y=1 K=0.2
		// of ink is R=204 G=102 B=0.
		{"CMYK converted to RGB", enc(solid(4, 40, 30, 255, 128, 0, 204), false), 3, []byte{204, 102, 0}},
		{"1x1", enc(solid(3, 1, 1, 10, 250, 128), false), 3, []byte{10, 250, 128}},
	}
	d := newDecoder(t)
	for _, tt := range tests {
		p := decode(t, d, tt.jpg, 320, 320)
		if p.Channels != tt.channels {
			t.Errorf("%s: %d channels, want %d", tt.name, p.Channels, tt.channels)
			continue
		}
		for i, v := range p.Pix {
			if w := tt.want[i%len(tt.want)]; math.Abs(float64(v)-float64(w)) > 3 {
				t.Errorf("%s: sample %d = %d, want %d", tt.name, i, v, w)
				break
			}
		}
	}
}

func TestDecodeBad(t *testing.T) {
	good := frame(t, 640, 480)
	d := newDecoder(t)
	if _, err := d.Header([]byte("not a jpeg")); err == nil {
		t.Error("Header accepted text")
	}
	hdr, err := d.Header(good[:len(good)/2])
	if err != nil {
		t.Fatalf("a truncated file still has its header: %v", err)
	}
	_, err = d.Decode(good[:len(good)/2], hdr, 320, 320)
	if err == nil || !strings.Contains(err.Error(), "truncated or damaged") {
		t.Errorf("truncated JPEG: err = %v, want it refused as truncated or damaged", err)
	}
	// The decoder still works after an error.
	if p := decode(t, d, good, 320, 320); p.Width != 480 { // 3/4: 1/2 would be 240 high
		t.Errorf("after an error: %dx%d", p.Width, p.Height)
	}
}

// FuzzDecode: whatever bytes come in, Header and Decode return an error
// or pixels of the size the header promised.
func FuzzDecode(f *testing.F) {
	f.Add(frame(f, 16, 8))
	b, _ := turbo.Encode(solid(1, 3, 5, 7), turbo.EncodeOptions{Progressive: true})
	f.Add(b)
	d := newDecoder(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		hdr, err := d.Header(b)
		if err != nil || hdr.Width*hdr.Height > 1<<16 {
			return
		}
		p, err := d.Decode(b, hdr, 4, 4)
		if err == nil && len(p.Pix) != p.Width*p.Height*p.Channels {
			t.Fatalf("%d bytes for %dx%dx%d", len(p.Pix), p.Width, p.Height, p.Channels)
		}
	})
}
