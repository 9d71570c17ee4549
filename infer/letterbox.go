// Package infer holds the pure-Go parts of inference in the YOLOv8 ONNX
// contract: letterbox preprocessing identical to Ultralytics', decoding of
// the [1, 4+nc, N] output, class-aware NMS, mapping boxes back to image
// pixels, and the result message. ONNX Runtime itself is in infer/ort, the
// only cgo code, so everything here also builds into the pure-Go vise binary.
package infer

import (
	"image"
	"math"
	"sync"
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
// OpenCV's INTER_LINEAR pixel-centre convention. Each source row is
// converted to RGB once, into a small row cache, so the inner loop is plain
// arithmetic.
func (lb Letterbox) Fill(img image.Image, dst []float32) {
	plane := lb.Width * lb.Height
	r, g, b := dst[:plane], dst[plane:2*plane], dst[2*plane:3*plane]
	newW, newH := lb.resized()
	lb.fillPadding(r, g, b, newW, newH)
	cols := columnTable(newW, float64(lb.ImgW)/float64(newW), lb.ImgW)
	// Large images are split in two bands, one per core: decoding leaves
	// the resize as the other half of preprocessing time.
	bands := 1
	if newW*newH >= 200_000 {
		bands = 2
	}
	var wg sync.WaitGroup
	for band := range bands {
		from, to := band*newH/bands, (band+1)*newH/bands
		wg.Go(func() { lb.fillRows(img, cols, from, to, r, g, b) })
	}
	wg.Wait()
}

// fillRows resizes output rows [from, to) into the planes.
func (lb Letterbox) fillRows(img image.Image, cols []column, from, to int, r, g, b []float32) {
	newW, newH := lb.resized()
	rows := newRowCache(img, lb.ImgW)
	sy := float64(lb.ImgH) / float64(newH)
	for y := from; y < to; y++ {
		y0, y1, fy := srcPos(y, sy, lb.ImgH)
		top, bot := rows.row(y0), rows.row(y1)
		out := (y+lb.PadY)*lb.Width + lb.PadX
		ro, go_, bo := r[out:out+newW], g[out:out+newW], b[out:out+newW]
		for x, c := range cols {
			i0, i1 := 3*c.x0, 3*c.x1
			ro[x] = lerp2(top[i0], top[i1], bot[i0], bot[i1], c.fx, fy)
			go_[x] = lerp2(top[i0+1], top[i1+1], bot[i0+1], bot[i1+1], c.fx, fy)
			bo[x] = lerp2(top[i0+2], top[i1+2], bot[i0+2], bot[i1+2], c.fx, fy)
		}
	}
}

// lerp2 blends four neighbours and rounds to a whole level, as OpenCV's
// resize of an 8-bit image does (Ultralytics resizes uint8 pixels).
func lerp2(t0, t1, b0, b1, fx, fy float32) float32 {
	t := t0 + (t1-t0)*fx
	u := b0 + (b1-b0)*fx
	return float32(int32(t+(u-t)*fy+0.5)) * (1.0 / 255)
}

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

type column struct {
	x0, x1 int
	fx     float32
}

func columnTable(newW int, scale float64, n int) []column {
	cols := make([]column, newW)
	for x := range cols {
		x0, x1, fx := srcPos(x, scale, n)
		cols[x] = column{x0, x1, fx}
	}
	return cols
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

// rowCache converts source rows to interleaved RGB floats on demand,
// keeping the last two (bilinear resizing reads rows pairwise, in order).
type rowCache struct {
	img    image.Image
	w      int
	idx    [2]int
	buf    [2][]float32
	next   int
	chroma *chroma // for YCbCr images
}

func newRowCache(img image.Image, w int) *rowCache {
	c := &rowCache{img: img, w: w, idx: [2]int{-1, -1}, buf: [2][]float32{make([]float32, 3*w), make([]float32, 3*w)}}
	if _, ok := img.(*image.YCbCr); ok {
		c.chroma = newChroma(w)
	}
	return c
}

func (c *rowCache) row(y int) []float32 {
	for i := range c.idx {
		if c.idx[i] == y {
			return c.buf[i]
		}
	}
	i := c.next
	c.next ^= 1
	c.idx[i] = y
	convertRow(c.img, c.chroma, y, c.buf[i])
	return c.buf[i]
}

// convertRow writes source row y (relative to the bounds) as RGB floats,
// with fast paths for the types the JPEG and PNG decoders return.
func convertRow(img image.Image, c *chroma, y int, out []float32) {
	bounds := img.Bounds()
	y += bounds.Min.Y
	w := len(out) / 3
	switch im := img.(type) {
	case *image.YCbCr:
		convertYCbCrRow(im, c, y-bounds.Min.Y, out[:3*w])
	case *image.NRGBA:
		pix := im.Pix[im.PixOffset(bounds.Min.X, y):]
		for x := 0; x < w; x++ {
			out[3*x], out[3*x+1], out[3*x+2] = float32(pix[4*x]), float32(pix[4*x+1]), float32(pix[4*x+2])
		}
	case *image.RGBA:
		pix := im.Pix[im.PixOffset(bounds.Min.X, y):]
		for x := 0; x < w; x++ {
			out[3*x], out[3*x+1], out[3*x+2] = float32(pix[4*x]), float32(pix[4*x+1]), float32(pix[4*x+2])
		}
	case *image.Gray:
		pix := im.Pix[im.PixOffset(bounds.Min.X, y):]
		for x := 0; x < w; x++ {
			v := float32(pix[x])
			out[3*x], out[3*x+1], out[3*x+2] = v, v, v
		}
	default:
		for x := 0; x < w; x++ {
			r, g, b, _ := img.At(bounds.Min.X+x, y).RGBA()
			out[3*x], out[3*x+1], out[3*x+2] = float32(r>>8), float32(g>>8), float32(b>>8)
		}
	}
}
