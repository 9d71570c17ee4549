package main

import (
	"fmt"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/infer/turbo"
)

// decoder turns image files into pixels, reusing its buffers from frame
// to frame: JPEG through libjpeg-turbo, DCT-scaled to no less than the
// network input on either side; PNG through the standard library.
type decoder struct {
	jpeg       *turbo.Decoder
	file, png  []byte
	maxPixels  int
	minW, minH int // 0: decode at full size
}

func newDecoder(maxPixels, minW, minH int) (*decoder, error) {
	j, err := turbo.NewDecoder()
	if err != nil {
		return nil, err
	}
	if maxPixels <= 0 {
		maxPixels = infer.DefaultMaxPixels
	}
	return &decoder{jpeg: j, maxPixels: maxPixels, minW: minW, minH: minH}, nil
}

func (d *decoder) close() { d.jpeg.Close() }

// decoded is one image: its pixels (possibly scaled down), its size in
// the file, and the file's bytes (valid until the next load).
type decoded struct {
	px   infer.Pixels
	w, h int
	file []byte
}

// load reads and decodes an image file. Its size is checked from the
// header before any pixel is decoded.
func (d *decoder) load(path string) (decoded, error) {
	var err error
	if d.file, err = infer.ReadImageFile(path, d.file, d.maxPixels); err != nil {
		return decoded{}, err
	}
	out, err := d.decode(d.file)
	if err != nil {
		return decoded{}, fmt.Errorf("%w: %s: %w", infer.ErrBadImage, path, err)
	}
	return out, nil
}

func (d *decoder) decode(b []byte) (decoded, error) {
	if infer.IsPNG(b) {
		px, err := infer.DecodePNG(b, d.maxPixels, d.png)
		d.png = px.Pix
		return decoded{px: px, w: px.Width, h: px.Height, file: b}, err
	}
	if len(b) < 2 || b[0] != 0xFF || b[1] != 0xD8 {
		return decoded{}, fmt.Errorf("neither JPEG nor PNG (vise-infer reads those two)")
	}
	hdr, err := d.jpeg.Header(b)
	if err != nil {
		return decoded{}, err
	}
	if err := infer.CheckSize(hdr.Width, hdr.Height, d.maxPixels); err != nil {
		return decoded{}, err
	}
	px, err := d.jpeg.Decode(b, hdr, d.minW, d.minH)
	return decoded{px: px, w: hdr.Width, h: hdr.Height, file: b}, err
}
