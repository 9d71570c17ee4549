package infer

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkFill is the fused pass from decoded pixels to a 320x320 input
// tensor, for the shared images (450x300) and for camera frames as the
// JPEG decoder hands them over after DCT scaling: 1280x720 at 1/2 and
// 2448x2048 at 1/4. It reports 0 allocs/op.
func BenchmarkFill(b *testing.B) {
	for _, bc := range []struct {
		name       string
		imgW, imgH int
		decW, decH int
	}{
		{"450x300", 450, 300, 450, 300},
		{"1280x720@1/2", 1280, 720, 640, 360},
		{"2448x2048@1/4", 2448, 2048, 612, 512},
		{"1280x720@1/1", 1280, 720, 1280, 720},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := noise(bc.decW, bc.decH, 3)
			lb := NewLetterbox(bc.imgW, bc.imgH, 320, 320)
			dst := make([]float32, 3*320*320)
			var f Filler
			b.ReportAllocs()
			for b.Loop() {
				f.Fill(lb, p, dst)
			}
		})
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
