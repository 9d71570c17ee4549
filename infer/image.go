package infer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // JPEG cameras
	_ "image/png"  // PNG cameras
	"os"
)

// DefaultMaxPixels refuses images larger than 40 megapixels before they are
// decoded, so a bad file cannot take the device's memory.
const DefaultMaxPixels = 40 << 20

// ErrBadImage marks a file that is not a usable image; the runner skips it.
var ErrBadImage = errors.New("not a usable image")

// Image is a decoded camera image.
type Image struct {
	Img    image.Image
	SHA256 string
	Bytes  int
}

// LoadImage reads a JPEG or PNG file of at most maxPixels pixels (0 means
// DefaultMaxPixels). The file's size and the dimensions in its header are
// checked before anything is decoded.
func LoadImage(path string, maxPixels int) (*Image, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	// No JPEG or PNG of maxPixels takes 4 bytes a pixel (8-bit RGBA).
	if limit := 4*int64(maxPixels) + 1<<20; fi.Size() > limit {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than an image of %d pixels can take", ErrBadImage, path, fi.Size(), maxPixels)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	img, err := DecodeImage(b, maxPixels)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadImage, path, err)
	}
	return img, nil
}

// DecodeImage decodes a JPEG or PNG of at most maxPixels pixels, checking
// the header's dimensions first.
func DecodeImage(b []byte, maxPixels int) (*Image, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%dx%d pixels", cfg.Width, cfg.Height)
	}
	if cfg.Width*cfg.Height > maxPixels {
		return nil, fmt.Errorf("%dx%d pixels, over the %d-pixel limit (a camera frame is far smaller; was this file meant for the camera folder?)", cfg.Width, cfg.Height, maxPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", format, err)
	}
	sum := sha256.Sum256(b)
	return &Image{Img: img, SHA256: hex.EncodeToString(sum[:]), Bytes: len(b)}, nil
}
