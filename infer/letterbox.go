// Package infer holds the pure-Go parts of inference in the YOLOv8 ONNX
// contract: letterbox preprocessing identical to Ultralytics', decoding of
// the [1, 4+nc, N] output, class-aware NMS, mapping boxes back to image
// pixels, and the result message. ONNX Runtime and libjpeg-turbo are in
// infer/ort and infer/turbo, the only cgo code, so everything here also
// builds into the pure-Go vise binary.
package infer

import "math"

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

// fillPadding paints only the border around the resized image gray.
func (lb Letterbox) fillPadding(r, g, b []float32, newW, newH int) {
	paint := func(from, to int) {
		for i := from; i < to; i++ {
			r[i], g[i], b[i] = pad, pad, pad
		}
	}
	paint(0, lb.PadY*lb.Width)
	paint((lb.PadY+newH)*lb.Width, lb.Width*lb.Height)
	for y := lb.PadY; y < lb.PadY+newH; y++ {
		paint(y*lb.Width, y*lb.Width+lb.PadX)
		paint(y*lb.Width+lb.PadX+newW, (y+1)*lb.Width)
	}
}
