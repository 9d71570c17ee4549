package infer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// pngHeader is a PNG signature and IHDR chunk claiming w x h pixels, with
// no image data: enough for DecodeConfig, never decoded.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func pngBytes(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodePNGBadInputs(t *testing.T) {
	good := pngBytes(t, image.NewRGBA(image.Rect(0, 0, 8, 6)))
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"huge", pngHeader(10000, 10000), "10000x10000 pixels, over the 41943040-pixel limit"},
		{"zero", pngHeader(0, 0), "png"},
		{"text", []byte("this is not a picture"), "png: invalid format"},
		{"truncated", good[:len(good)-20], "png"},
	}
	for _, tt := range tests {
		_, err := DecodePNG(tt.b, DefaultMaxPixels, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// A PNG with alpha gives the colour stored under each pixel, not one
// blended with or premultiplied by its alpha (cv2.imread drops alpha).
func TestDecodePNGAlpha(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 2, 1))
	img.SetNRGBA(0, 0, color.NRGBA{200, 100, 50, 0}) // fully transparent
	img.SetNRGBA(1, 0, color.NRGBA{10, 20, 30, 128})
	p, err := DecodePNG(pngBytes(t, img), DefaultMaxPixels, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Pixels{Pix: []byte{200, 100, 50, 10, 20, 30}, Width: 2, Height: 1, Channels: 3}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("pixels (-want +got):\n%s", diff)
	}
}

func TestDecodePNGGrayAndTiny(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 1, 1))
	gray.Pix[0] = 77
	p, err := DecodePNG(pngBytes(t, gray), DefaultMaxPixels, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Pixels{Pix: []byte{77}, Width: 1, Height: 1, Channels: 1}, p); diff != "" {
		t.Errorf("1x1 gray PNG (-want +got):\n%s", diff)
	}
	dst := make([]float32, 3*32*24)
	var f Filler
	f.Fill(NewLetterbox(1, 1, 32, 24), p, dst)
	for i, v := range dst[3*32+4 : 3*32+28] { // 24x24 inside, 4 columns of padding either side
		if v != unit[77] {
			t.Fatalf("value %d = %v; a 1x1 image fills the input with its one level 77", i, v*255)
		}
	}
}

func TestReadImageFile(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.jpg")
	os.WriteFile(big, make([]byte, 4*1000+1<<20+1), 0o644)
	if _, err := ReadImageFile(big, nil, 1000); !errors.Is(err, ErrBadImage) || !strings.Contains(err.Error(), "more than an image of 1000 pixels can take") {
		t.Errorf("oversized file: %v", err)
	}
	if _, err := ReadImageFile(filepath.Join(dir, "missing.jpg"), nil, 1000); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v (want a plain not-exist error)", err)
	}
	ok := filepath.Join(dir, "ok.png")
	os.WriteFile(ok, []byte("0123456789"), 0o644)
	buf := make([]byte, 0, 64)
	got, err := ReadImageFile(ok, buf, 1000)
	if err != nil || string(got) != "0123456789" || &got[0] != &buf[:1][0] {
		t.Errorf("read %q, %v; want the file's bytes in the buffer passed in", got, err)
	}
}

// FuzzDecodeFill feeds arbitrary bytes through PNG decoding and the
// letterbox: whatever decodes must letterbox without a panic, into the
// tensor only, with values in 0..1.
func FuzzDecodeFill(f *testing.F) {
	f.Add(pngBytes(f, image.NewRGBA(image.Rect(0, 0, 3, 1))))
	f.Add(pngBytes(f, image.NewGray(image.Rect(0, 0, 1, 3))))
	f.Add(pngHeader(3, 1))
	var fill Filler
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePNG(b, 1<<16, nil) // small images keep each run fast
		if err != nil {
			return
		}
		dst := make([]float32, 3*32*24+1)
		dst[len(dst)-1] = -1
		fill.Fill(NewLetterbox(p.Width, p.Height, 32, 24), p, dst[:len(dst)-1])
		if dst[len(dst)-1] != -1 {
			t.Fatal("Fill wrote past the tensor")
		}
		for i, v := range dst[:len(dst)-1] {
			if v < 0 || v > 1 {
				t.Fatalf("value %d = %v, outside 0..1", i, v)
			}
		}
	})
}
