package infer

import (
	"bytes"
	"image"
	"image/draw"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// cameraFrame is a 1280x720 JPEG (quality 90, 4:2:0) tiled from the
// test photographs, so it decodes like a real camera frame would.
func cameraFrame(tb testing.TB) []byte {
	tb.Helper()
	dst := image.NewRGBA(image.Rect(0, 0, 1280, 720))
	for i, name := range []string{"tag-a.jpg", "tag-b.jpg"} {
		img, err := LoadImage(filepath.Join("testdata", name), 0)
		if err != nil {
			tb.Fatal(err)
		}
		for y := 0; y < 720; y += 300 {
			for x := i * 450; x < 1280; x += 900 {
				draw.Draw(dst, image.Rect(x, y, x+450, y+300), img.Img, image.Point{}, draw.Src)
			}
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 90}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkLetterbox1280x720 is the whole preprocessing of a camera frame:
// read, decode, letterbox into a 640x640 tensor.
func BenchmarkLetterbox1280x720(b *testing.B) {
	path := filepath.Join(b.TempDir(), "frame.jpg")
	if err := os.WriteFile(path, cameraFrame(b), 0o644); err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, 3*640*640)
	b.ReportAllocs()
	for b.Loop() {
		img, err := LoadImage(path, 0)
		if err != nil {
			b.Fatal(err)
		}
		NewLetterbox(1280, 720, 640, 640).Fill(img.Img, dst)
	}
}

// BenchmarkFill1280x720 is the letterbox alone, on a decoded frame.
func BenchmarkFill1280x720(b *testing.B) {
	img, err := jpeg.Decode(bytes.NewReader(cameraFrame(b)))
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, 3*640*640)
	b.ReportAllocs()
	for b.Loop() {
		NewLetterbox(1280, 720, 640, 640).Fill(img, dst)
	}
}

// BenchmarkNMS decodes the golden raw output (400 candidates, 2 classes,
// heavily overlapping clusters) with a low threshold: NMS dominates.
func BenchmarkNMS(b *testing.B) {
	raw := readRaw(b, "testdata/raw.bin", (4+2)*400)
	lb := NewLetterbox(450, 300, 320, 256)
	p := Post{Confidence: 0.01}
	b.ReportAllocs()
	for b.Loop() {
		p.Decode(raw, 2, 400, lb)
	}
}

// BenchmarkDecodeYOLOv8n is postprocessing of a YOLOv8n-shaped output
// [1,84,8400]: background scores below the threshold, 40 objects each
// found by 10 overlapping anchors.
func BenchmarkDecodeYOLOv8n(b *testing.B) {
	const nc, n = 80, 8400
	out := make([]float32, (4+nc)*n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		out[i], out[n+i], out[2*n+i], out[3*n+i] = rng.Float32()*640, rng.Float32()*640, 20+rng.Float32()*100, 20+rng.Float32()*100
		for c := range nc {
			out[(4+c)*n+i] = rng.Float32() * 0.05
		}
	}
	for obj := range 40 {
		for k := range 10 {
			i := obj*200 + k
			out[i], out[n+i] = float32(obj*15)+float32(k), float32(obj*15)+float32(k)
			out[(4+obj%nc)*n+i] = 0.5 + rng.Float32()*0.5
		}
	}
	lb := NewLetterbox(1280, 720, 640, 640)
	p := Post{}
	b.ReportAllocs()
	for b.Loop() {
		p.Decode(out, nc, n, lb)
	}
}
