package main

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/infer/turbo"
)

func testJPEG(t testing.TB, p infer.Pixels, progressive bool) []byte {
	t.Helper()
	b, err := turbo.Encode(p, turbo.EncodeOptions{Quality: 90, Progressive: progressive})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func flat(ch, w, h int, v ...byte) infer.Pixels {
	p := infer.Pixels{Pix: make([]byte, ch*w*h), Width: w, Height: h, Channels: ch}
	for i := range p.Pix {
		p.Pix[i] = v[i%ch]
	}
	return p
}

// withSize rewrites the size in a baseline JPEG's SOF0 segment: the file
// claims w x h pixels but holds a small image's data.
func withSize(t testing.TB, jpg []byte, w, h uint16) []byte {
	i := bytes.Index(jpg, []byte{0xFF, 0xC0})
	if i < 0 {
		t.Fatal("no SOF0 segment")
	}
	out := bytes.Clone(jpg)
	out[i+5], out[i+6], out[i+7], out[i+8] = byte(h>>8), byte(h), byte(w>>8), byte(w)
	return out
}

// Each bad or unusual input the decoder meets: refused with what is wrong,
// or decoded to what a person would see.
func TestDecoderInputs(t *testing.T) {
	good := testJPEG(t, flat(3, 640, 480, 30, 60, 90), false)
	alpha := image.NewNRGBA(image.Rect(0, 0, 4, 4))
	for i := range alpha.Pix {
		alpha.Pix[i] = []byte{200, 100, 50, 0}[i%4] // transparent, colour still stored
	}
	var pngAlpha bytes.Buffer
	png.Encode(&pngAlpha, alpha)
	tests := []struct {
		name    string
		file    []byte
		wantErr string // empty: decodes
		w, h    int    // size reported
		rgb     color.RGBA
	}{
		{name: "truncated JPEG", file: good[:len(good)/2], wantErr: "truncated or damaged"},
		{name: "10000x10000 JPEG refused from its header", file: withSize(t, testJPEG(t, flat(1, 8, 8, 0), false), 10000, 10000),
			wantErr: "10000x10000 pixels, over the 41943040-pixel limit"},
		{name: "not an image", file: []byte("GIF89a..."), wantErr: "neither JPEG nor PNG"},
		{name: "CMYK JPEG", file: testJPEG(t, flat(4, 16, 16, 255, 128, 0, 204), false), w: 16, h: 16, rgb: color.RGBA{204, 102, 0, 0}},
		{name: "progressive JPEG", file: testJPEG(t, flat(3, 640, 480, 30, 60, 90), true), w: 640, h: 480, rgb: color.RGBA{30, 60, 90, 0}},
		{name: "1x1 JPEG", file: testJPEG(t, flat(3, 1, 1, 10, 250, 128), false), w: 1, h: 1, rgb: color.RGBA{10, 250, 128, 0}},
		{name: "gray JPEG", file: testJPEG(t, flat(1, 8, 8, 77), false), w: 8, h: 8, rgb: color.RGBA{77, 77, 77, 0}},
		{name: "PNG with alpha", file: pngAlpha.Bytes(), w: 4, h: 4, rgb: color.RGBA{200, 100, 50, 0}},
	}
	dir := t.TempDir()
	d, err := newDecoder(0, 320, 320)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	var fill infer.Filler
	tensor := make([]float32, 3*320*320)
	for i, tt := range tests {
		path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
		os.WriteFile(path, tt.file, 0o644)
		got, err := d.load(path)
		if tt.wantErr != "" {
			if !errors.Is(err, infer.ErrBadImage) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%d %s: err = %v, want ErrBadImage saying %q", i, tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got.w != tt.w || got.h != tt.h {
			t.Errorf("%s: %dx%d, %v; want %dx%d", tt.name, got.w, got.h, err, tt.w, tt.h)
			continue
		}
		// The centre of the letterboxed input has the image's colour.
		fill.Fill(infer.NewLetterbox(got.w, got.h, 320, 320), got.px, tensor)
		c := 160*320 + 160
		for k, want := range []uint8{tt.rgb.R, tt.rgb.G, tt.rgb.B} {
			if v := tensor[k*320*320+c] * 255; v < float32(want)-3 || v > float32(want)+3 {
				t.Errorf("%s: channel %d = %.0f, want %d", tt.name, k, v, want)
			}
		}
	}
}

// benchFrames are camera-like JPEGs at the three sizes the README reports.
func benchFrames(tb testing.TB) map[string][]byte {
	src, err := os.ReadFile(filepath.Join(testdata, "tag-a.jpg"))
	if err != nil {
		tb.Fatal(err)
	}
	d, _ := newDecoder(0, 1<<30, 1<<30)
	defer d.close()
	img, err := d.decode(src)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]byte{}
	for _, s := range [][2]int{{450, 300}, {1280, 720}, {2448, 2048}} {
		rgb := stretch(img.px, s[0], s[1], nil)
		out[fmt.Sprintf("%dx%d", s[0], s[1])] = testJPEG(tb, infer.Pixels{Pix: rgb, Width: s[0], Height: s[1], Channels: 3}, false)
	}
	return out
}

// After the first frame, decoding a JPEG (DCT-scaled) and filling the
// tensor allocate nothing: buffers and tables are reused.
func TestDecodeFillAllocatesNothing(t *testing.T) {
	for name, jpg := range benchFrames(t) {
		d, err := newDecoder(0, 320, 320)
		if err != nil {
			t.Fatal(err)
		}
		var fill infer.Filler
		tensor := make([]float32, 3*320*320)
		step := func() {
			img, err := d.decode(jpg)
			if err != nil {
				t.Fatal(err)
			}
			fill.Fill(infer.NewLetterbox(img.w, img.h, 320, 320), img.px, tensor)
		}
		if n := testing.AllocsPerRun(5, step); n != 0 {
			t.Errorf("%s: %v allocations a frame, want 0", name, n)
		}
		d.close()
	}
}

// BenchmarkDecodeFill is preprocessing of one frame already in memory:
// JPEG decode (DCT-scaled for a 320x320 input) and the fused fill.
// -benchmem shows 0 allocs/op.
func BenchmarkDecodeFill(b *testing.B) {
	for name, jpg := range benchFrames(b) {
		for _, scaled := range []bool{true, false} {
			least := 320
			if !scaled {
				least = 1 << 30
			}
			b.Run(name+map[bool]string{true: "/dct-scaled", false: "/full"}[scaled], func(b *testing.B) {
				d, _ := newDecoder(0, least, least)
				defer d.close()
				var fill infer.Filler
				tensor := make([]float32, 3*320*320)
				b.ReportAllocs()
				for b.Loop() {
					img, err := d.decode(jpg)
					if err != nil {
						b.Fatal(err)
					}
					fill.Fill(infer.NewLetterbox(img.w, img.h, 320, 320), img.px, tensor)
				}
			})
		}
	}
}

func TestSplit(t *testing.T) {
	tests := []struct{ cores, threads, decoders, wantT, wantD int }{
		{1, 0, 0, 1, 1},
		{2, 0, 0, 1, 1},
		{4, 0, 0, 3, 1},
		{8, 0, 0, 6, 2},
		{2, 2, 0, 2, 1}, // what the user set stays
		{2, 0, 2, 1, 2},
		{16, 4, 3, 4, 3},
	}
	for _, tt := range tests {
		if th, d := split(tt.cores, tt.threads, tt.decoders); th != tt.wantT || d != tt.wantD {
			t.Errorf("split(%d cores, %d, %d) = %d threads, %d decoders; want %d, %d", tt.cores, tt.threads, tt.decoders, th, d, tt.wantT, tt.wantD)
		}
	}
}
