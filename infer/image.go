package infer

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
)

// DefaultMaxPixels refuses images larger than 40 megapixels before they are
// decoded, so a bad file cannot take the device's memory.
const DefaultMaxPixels = 40 << 20

// ErrBadImage marks a file that is not a usable image; the runner skips it.
var ErrBadImage = errors.New("not a usable image")

// ReadImageFile reads an image file into buf (grown as needed, so a
// caller that passes the last result back reads without allocating). Files
// bigger than any image of maxPixels pixels could be are refused unread.
func ReadImageFile(path string, buf []byte, maxPixels int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return buf, err
	}
	// No JPEG or PNG of maxPixels takes 4 bytes a pixel (8-bit RGBA).
	if limit := 4*int64(maxPixels) + 1<<20; fi.Size() > limit {
		return buf, fmt.Errorf("%w: %s is %d bytes, more than an image of %d pixels can take", ErrBadImage, path, fi.Size(), maxPixels)
	}
	n := int(fi.Size())
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(f, buf); err != nil {
		return buf, fmt.Errorf("read %s: %w", path, err)
	}
	return buf, nil
}

// CheckSize refuses an image by the dimensions in its header, before it
// is decoded.
func CheckSize(w, h, maxPixels int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%dx%d pixels", w, h)
	}
	if w*h > maxPixels {
		return fmt.Errorf("%dx%d pixels, over the %d-pixel limit (a camera frame is far smaller; was this file meant for the camera folder?)", w, h, maxPixels)
	}
	return nil
}

// IsPNG reports whether b starts with the PNG signature.
func IsPNG(b []byte) bool { return bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) }

// DecodePNG decodes a PNG of at most maxPixels pixels, checking its
// header first, into RGB or gray pixels in buf (reused when big enough).
// An alpha channel is dropped, not blended: the colour stored under a
// transparent pixel is what cv2.imread gives Ultralytics too.
func DecodePNG(b []byte, maxPixels int, buf []byte) (Pixels, error) {
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return Pixels{}, fmt.Errorf("png: %w", err)
	}
	if err := CheckSize(cfg.Width, cfg.Height, maxPixels); err != nil {
		return Pixels{}, err
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return Pixels{}, fmt.Errorf("png: %w", err)
	}
	return PixelsOf(img, buf), nil
}

// PixelsOf copies a decoded image into packed 8-bit pixels: gray stays
// one channel, everything else becomes RGB without alpha.
func PixelsOf(img image.Image, buf []byte) Pixels {
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	if g, ok := img.(*image.Gray); ok {
		p := Pixels{Pix: grow(buf, w*h), Width: w, Height: h, Channels: 1}
		for y := range h {
			copy(p.Pix[y*w:(y+1)*w], g.Pix[g.PixOffset(r.Min.X, r.Min.Y+y):])
		}
		return p
	}
	p := Pixels{Pix: grow(buf, 3*w*h), Width: w, Height: h, Channels: 3}
	for y := range h {
		row := p.Pix[3*w*y : 3*w*(y+1)]
		switch im := img.(type) {
		case *image.NRGBA: // 8-bit PNG with alpha: the stored colour, unblended
			src := im.Pix[im.PixOffset(r.Min.X, r.Min.Y+y):]
			for x := range w {
				row[3*x], row[3*x+1], row[3*x+2] = src[4*x], src[4*x+1], src[4*x+2]
			}
		case *image.RGBA:
			src := im.Pix[im.PixOffset(r.Min.X, r.Min.Y+y):]
			for x := range w {
				row[3*x], row[3*x+1], row[3*x+2] = src[4*x], src[4*x+1], src[4*x+2]
			}
		default: // 16-bit, paletted, gray+alpha: rare from cameras
			for x := range w {
				c := color.NRGBAModel.Convert(img.At(r.Min.X+x, r.Min.Y+y)).(color.NRGBA)
				row[3*x], row[3*x+1], row[3*x+2] = c.R, c.G, c.B
			}
		}
	}
	return p
}
