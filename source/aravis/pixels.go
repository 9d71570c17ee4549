package aravis

import (
	"fmt"
	"image"
)

// Pixel layouts vise_kind reports.
const (
	kindOther = iota
	kindMono8
	kindRGB8
	kindBayerRG8
	kindBayerGR8
	kindBayerGB8
	kindBayerBG8
)

// toImage wraps a frame's pixels as an image, debayering Bayer mosaics.
func toImage(kind, w, h int, data []byte) (image.Image, error) {
	need := w * h
	if kind == kindRGB8 {
		need *= 3
	}
	if w <= 0 || h <= 0 || len(data) < need {
		return nil, fmt.Errorf("aravis: frame of %d bytes for %dx%d", len(data), w, h)
	}
	switch kind {
	case kindMono8:
		return &image.Gray{Pix: data[:need], Stride: w, Rect: image.Rect(0, 0, w, h)}, nil
	case kindRGB8:
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := 0; i < w*h; i++ {
			copy(img.Pix[4*i:4*i+3], data[3*i:3*i+3])
			img.Pix[4*i+3] = 0xFF
		}
		return img, nil
	case kindBayerRG8, kindBayerGR8, kindBayerGB8, kindBayerBG8:
		return debayer(data, w, h, kind), nil
	}
	return nil, fmt.Errorf("aravis: unsupported pixel format: set pixel_format to Mono8, RGB8 or an 8-bit Bayer format")
}

// debayer turns an 8-bit Bayer mosaic into RGB by filling each 2x2 cell
// with its red, the mean of its greens and its blue: half the colour
// resolution of bilinear interpolation, but exact colours and no
// neighbours to fetch; the model sees a downscaled image anyway.
func debayer(data []byte, w, h, kind int) *image.RGBA {
	// Where red sits in the 2x2 cell; blue is opposite, greens beside.
	red := map[int][2]int{kindBayerRG8: {0, 0}, kindBayerGR8: {1, 0}, kindBayerGB8: {0, 1}, kindBayerBG8: {1, 1}}[kind]
	rx, ry := red[0], red[1]
	bx, by := 1-rx, 1-ry
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y+1 < h; y += 2 {
		for x := 0; x+1 < w; x += 2 {
			at := func(dx, dy int) int { return int(data[(y+dy)*w+x+dx]) }
			r, b := at(rx, ry), at(bx, by)
			g := (at(bx, ry) + at(rx, by)) / 2
			for dy := range 2 {
				for dx := range 2 {
					o := img.PixOffset(x+dx, y+dy)
					img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = uint8(r), uint8(g), uint8(b), 0xFF
				}
			}
		}
	}
	return img
}
