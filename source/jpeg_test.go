package source

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	img.Set(1, 1, color.White)
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withThumbnail puts an APP1 segment holding a whole JPEG (its own FFD9
// included) after the SOI, as cameras' EXIF thumbnails do.
func withThumbnail(t *testing.T, j []byte) []byte {
	thumb := testJPEG(t, 8, 8)
	seg := []byte{0xFF, 0xE1, byte((len(thumb) + 2) >> 8), byte(len(thumb) + 2)}
	out := append([]byte{0xFF, 0xD8}, seg...)
	out = append(out, thumb...)
	return append(out, j[2:]...)
}

func TestSplitter(t *testing.T) {
	a, b := testJPEG(t, 64, 48), testJPEG(t, 32, 32)
	thumbed := withThumbnail(t, a)
	var stream bytes.Buffer
	stream.WriteString("garbage before")
	stream.Write(a)
	stream.Write(thumbed)
	stream.Write([]byte{0xFF, 0xFF}) // fill between frames
	stream.Write(b)
	s := NewSplitter(&stream)
	var got [][]byte
	for {
		j, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, j)
	}
	if diff := cmp.Diff([][]byte{a, thumbed, b}, got); diff != "" {
		t.Errorf("frames (-want +got):\n%.500s", diff)
	}
	if _, err := jpeg.Decode(bytes.NewReader(got[1])); err != nil {
		t.Errorf("frame with thumbnail does not decode: %v", err)
	}
}

func TestSplitterCorrupt(t *testing.T) {
	a, b := testJPEG(t, 64, 48), testJPEG(t, 32, 32)
	tests := []struct {
		name   string
		stream []byte
	}{
		{"broke off at the next SOI", append(append([]byte{}, a[:len(a)/2]...), b...)},
		{"garbage in the header", append([]byte{0xFF, 0xD8, 0x12, 0x34}, b...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSplitter(bytes.NewReader(tc.stream))
			bad, err := s.Next()
			if !errors.Is(err, ErrCorruptJPEG) || len(bad) < 2 {
				t.Fatalf("first frame: %d bytes, err %v; want the bytes and ErrCorruptJPEG", len(bad), err)
			}
			next, err := s.Next()
			if err != nil || !bytes.Equal(next, b) {
				t.Fatalf("frame after the corrupt one: %d bytes, err %v; want the intact %d bytes", len(next), err, len(b))
			}
		})
	}
}

func TestSplitterTruncatedStream(t *testing.T) {
	a := testJPEG(t, 64, 48)
	_, err := NewSplitter(bytes.NewReader(a[:len(a)-10])).Next()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want unexpected EOF", err)
	}
}

func FuzzSplitter(f *testing.F) {
	f.Add(testJPEG(f, 16, 16))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := NewSplitter(bytes.NewReader(b))
		for range 100 {
			j, err := s.Next()
			if err != nil && !errors.Is(err, ErrCorruptJPEG) {
				return
			}
			if len(j) > len(b)+2 {
				t.Fatalf("frame of %d bytes from %d input bytes", len(j), len(b))
			}
		}
	})
}
