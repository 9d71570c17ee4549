package infer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/jpeg"
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
		{"huge", write("huge.png", pngHeader(20000, 20000)), "20000x20000 pixels, over the"},
		{"zero", write("zero.png", pngHeader(0, 0)), "not a usable image"},
		{"text", write("notes.jpg", []byte("this is not a picture")), "not a usable image"},
		{"truncated jpeg", write("cut.jpg", jpegBytes(t)[:200]), "not a usable image"},
		{"empty", write("empty.jpg", nil), "not a usable image"},
	}
	for _, tt := range tests {
		_, err := LoadImage(tt.path, 0)
		if !errors.Is(err, ErrBadImage) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want ErrBadImage containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := LoadImage(filepath.Join(dir, "missing.jpg"), 0); err == nil || errors.Is(err, ErrBadImage) {
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
