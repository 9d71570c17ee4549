package infer_test

import (
	"bytes"
	"image"
	"image/draw"
	"image/jpeg"
	"os"
	"testing"

	"github.com/vise-edge/vise/infer"
)

func frame(b *testing.B) []byte {
	dst := image.NewRGBA(image.Rect(0, 0, 1280, 720))
	for i, n := range []string{"tag-a.jpg", "tag-b.jpg"} {
		f, _ := os.Open("/work/main/infer/testdata/" + n)
		src, _ := jpeg.Decode(f)
		f.Close()
		for y := 0; y < 720; y += 300 {
			for x := i * 450; x < 1280; x += 900 {
				draw.Draw(dst, image.Rect(x, y, x+450, y+300), src, image.Point{}, draw.Src)
			}
		}
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 90})
	return buf.Bytes()
}

func BenchmarkDecode(b *testing.B) {
	data := frame(b)
	b.Logf("%d bytes", len(data))
	for b.Loop() {
		jpeg.Decode(bytes.NewReader(data))
	}
}

func BenchmarkFill(b *testing.B) {
	img, _ := jpeg.Decode(bytes.NewReader(frame(b)))
	dst := make([]float32, 3*640*640)
	for b.Loop() {
		infer.NewLetterbox(1280, 720, 640, 640).Fill(img, dst)
	}
}
