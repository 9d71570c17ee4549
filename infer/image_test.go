package infer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/jpeg"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

// jpegHeader is a JPEG start, JFIF marker and SOF0 segment claiming w x h
// pixels, with no image data.
func jpegHeader(w, h uint16) []byte {
	b := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	return append(b, 0xFF, 0xC0, 0, 17, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 3,
		1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
}

func TestLoadImageBadInputs(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	tests := []struct {
		name, path, want string
	}{
		{"huge png", write("huge.png", pngHeader(20000, 20000)), "20000x20000 pixels, over the"},
		{"huge jpeg", write("huge.jpg", jpegHeader(20000, 20000)), "20000x20000 pixels, over the"},
		{"huge file", write("big.jpg", make([]byte, 4*1000+1<<20+1)), "more than an image of"},
		{"zero", write("zero.png", pngHeader(0, 0)), "not a usable image"},
		{"text", write("notes.jpg", []byte("this is not a picture")), "not a usable image"},
		{"truncated jpeg", write("cut.jpg", jpegBytes(t)[:200]), "not a usable image"},
		{"empty", write("empty.jpg", nil), "not a usable image"},
	}
	for _, tt := range tests {
		maxPixels := 0
		if tt.name == "huge file" {
			maxPixels = 1000
		}
		_, err := LoadImage(tt.path, maxPixels)
		if !errors.Is(err, ErrBadImage) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrBadImage containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := LoadImage(filepath.Join(dir, "missing.jpg"), 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v (want a plain not-exist error)", err)
	}
	img, err := LoadImage(write("ok.jpg", jpegBytes(t)), 0)
	if err != nil || img.Img.Bounds().Dx() != 64 || len(img.SHA256) != 64 {
		t.Errorf("valid JPEG: %v %v", img, err)
	}
}

func jpegBytes(t testing.TB) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewRGBA(image.Rect(0, 0, 64, 48)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Splitting a large image in bands gives exactly the single-pass result.
func TestFillBandsMatchSinglePass(t *testing.T) {
	src := image.NewYCbCr(image.Rect(0, 0, 1280, 720), image.YCbCrSubsampleRatio420)
	for i := range src.Y {
		src.Y[i] = byte(i * 7)
	}
	for i := range src.Cb {
		src.Cb[i], src.Cr[i] = byte(i*3), byte(255-i)
	}
	lb := NewLetterbox(1280, 720, 640, 640)
	banded := make([]float32, 3*640*640)
	lb.Fill(src, banded)
	single := make([]float32, len(banded))
	plane := 640 * 640
	newW, newH := lb.resized()
	lb.fillPadding(single[:plane], single[plane:2*plane], single[2*plane:], newW, newH)
	lb.fillRows(src, columnTable(newW, 2, 1280), 0, newH, single[:plane], single[plane:2*plane], single[2*plane:])
	for i := range banded {
		if banded[i] != single[i] {
			t.Fatalf("value %d differs: banded %v, single pass %v", i, banded[i], single[i])
		}
	}
}

// FuzzDecodeFill feeds arbitrary bytes through decoding and the letterbox:
// whatever decodes must letterbox without a panic, into the tensor only.
func FuzzDecodeFill(f *testing.F) {
	for _, name := range []string{"tag-a.jpg", "colour.jpg"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(pngHeader(3, 1))
	f.Add(jpegHeader(1, 3))
	var tiny bytes.Buffer
	jpeg.Encode(&tiny, image.NewRGBA(image.Rect(0, 0, 1, 2)), nil)
	f.Add(tiny.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		img, err := DecodeImage(b, 1<<16) // small images keep each run fast
		if err != nil {
			return
		}
		r := img.Img.Bounds()
		dst := make([]float32, 3*32*24+1)
		dst[len(dst)-1] = -1
		NewLetterbox(r.Dx(), r.Dy(), 32, 24).Fill(img.Img, dst[:len(dst)-1])
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
