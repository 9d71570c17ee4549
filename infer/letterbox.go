// Package infer holds the pure-Go parts of inference in the YOLOv8 ONNX
// contract: letterbox preprocessing identical to Ultralytics', decoding of
// the [1, 4+nc, N] output, class-aware NMS, mapping boxes back to image
// pixels, and the result message. ONNX Runtime itself is in infer/ort, the
// only cgo code, so everything here also builds into the pure-Go vise binary.
package infer

import (
	"image"
	"image/color"
	"math"
)

// Letterbox is how an image was fitted into the network input: scaled by
// Scale and offset by PadX, PadY pixels.
type Letterbox struct {
	Scale      float64
	PadX, PadY int
	Width      int // network input size
	Height     int
	ImgW, ImgH int // original image size
}

// NewLetterbox computes Ultralytics' LetterBox(auto=False, center=True)
// geometry: keep aspect, scale (up or down) to fit, pad evenly; Python's
// round-half-to-even and its "round(d ± 0.1)" split of odd padding are
// reproduced so boxes land on the same pixels.
func NewLetterbox(imgW, imgH, netW, netH int) Letterbox {
	r := math.Min(float64(netH)/float64(imgH), float64(netW)/float64(imgW))
	newW := int(math.RoundToEven(float64(imgW) * r))
	newH := int(math.RoundToEven(float64(imgH) * r))
	dw, dh := float64(netW-newW)/2, float64(netH-newH)/2
	return Letterbox{Scale: r, PadX: int(math.RoundToEven(dw - 0.1)), PadY: int(math.RoundToEven(dh - 0.1)),
		Width: netW, Height: netH, ImgW: imgW, ImgH: imgH}
}

// resized is the size of the scaled image inside the input.
func (lb Letterbox) resized() (int, int) {
	return int(math.RoundToEven(float64(lb.ImgW) * lb.Scale)), int(math.RoundToEven(float64(lb.ImgH) * lb.Scale))
}

const pad = 114.0 / 255

// Fill writes img, letterboxed, into dst as float32 RGB scaled to 0..1 in
// NCHW order (len(dst) == 3*Width*Height). The resize is bilinear with
// OpenCV's INTER_LINEAR pixel-centre convention. It does not allocate.
func (lb Letterbox) Fill(img image.Image, dst []float32) {
	plane := lb.Width * lb.Height
	r, g, b := dst[:plane], dst[plane:2*plane], dst[2*plane:3*plane]
	for i := range r {
		r[i], g[i], b[i] = pad, pad, pad
	}
	newW, newH := lb.resized()
	px := pixelReader(img)
	bounds := img.Bounds()
	sx := float64(lb.ImgW) / float64(newW)
	sy := float64(lb.ImgH) / float64(newH)
	for y := 0; y < newH; y++ {
		y0, y1, fy := srcPos(y, sy, lb.ImgH)
		row := (y + lb.PadY) * lb.Width
		for x := 0; x < newW; x++ {
			x0, x1, fx := srcPos(x, sx, lb.ImgW)
			r00, g00, b00 := px(bounds.Min.X+x0, bounds.Min.Y+y0)
			r01, g01, b01 := px(bounds.Min.X+x1, bounds.Min.Y+y0)
			r10, g10, b10 := px(bounds.Min.X+x0, bounds.Min.Y+y1)
			r11, g11, b11 := px(bounds.Min.X+x1, bounds.Min.Y+y1)
			i := row + x + lb.PadX
			r[i] = bilerp(r00, r01, r10, r11, fx, fy)
			g[i] = bilerp(g00, g01, g10, g11, fx, fy)
			b[i] = bilerp(b00, b01, b10, b11, fx, fy)
		}
	}
}

// srcPos maps a destination pixel to its two source neighbours and the
// weight of the second, OpenCV style: centres aligned, clamped at edges.
func srcPos(d int, scale float64, n int) (int, int, float32) {
	s := (float64(d)+0.5)*scale - 0.5
	if s < 0 {
		s = 0
	}
	i0 := int(s)
	f := float32(s - float64(i0))
	if i0 >= n-1 {
		return n - 1, n - 1, 0
	}
	return i0, i0 + 1, f
}

func bilerp(v00, v01, v10, v11 float32, fx, fy float32) float32 {
	top := v00 + (v01-v00)*fx
	bot := v10 + (v11-v10)*fx
	return (top + (bot-top)*fy) / 255
}

// pixelReader returns a fast accessor for the common decoded image types
// (JPEG gives YCbCr, PNG gives NRGBA/RGBA/Gray) and a generic one otherwise.
func pixelReader(img image.Image) func(x, y int) (float32, float32, float32) {
	switch im := img.(type) {
	case *image.YCbCr:
		return func(x, y int) (float32, float32, float32) {
			yi, ci := im.YOffset(x, y), im.COffset(x, y)
			r, g, b := color.YCbCrToRGB(im.Y[yi], im.Cb[ci], im.Cr[ci])
			return float32(r), float32(g), float32(b)
		}
	case *image.NRGBA:
		return func(x, y int) (float32, float32, float32) {
			o := im.PixOffset(x, y)
			return float32(im.Pix[o]), float32(im.Pix[o+1]), float32(im.Pix[o+2])
		}
	case *image.RGBA:
		return func(x, y int) (float32, float32, float32) {
			o := im.PixOffset(x, y)
			return float32(im.Pix[o]), float32(im.Pix[o+1]), float32(im.Pix[o+2])
		}
	case *image.Gray:
		return func(x, y int) (float32, float32, float32) {
			v := float32(im.Pix[im.PixOffset(x, y)])
			return v, v, v
		}
	}
	return func(x, y int) (float32, float32, float32) {
		r, g, b, _ := img.At(x, y).RGBA()
		return float32(r >> 8), float32(g >> 8), float32(b >> 8)
	}
}
