package infer

import "image"

// JPEG colour, done the way libjpeg(-turbo) does it, because that is what
// Ultralytics sees: cv2.imread decodes with libjpeg's default "fancy"
// (triangle-filter) chroma upsampling and its integer YCbCr->RGB tables.
// Go's image/jpeg leaves chroma subsampled and color.YCbCrToRGB repeats each
// chroma sample; on colourful images that alone is off by several levels on
// average and by over 100 at sharp colour edges.

// jfif holds libjpeg's colour tables (jdcolor.c, build_ycc_rgb_table).
var jfif = func() (t struct{ crR, cbB, crG, cbG [256]int32 }) {
	const half = 1 << 15
	fix := func(x float64) int32 { return int32(x*(1<<16) + 0.5) }
	for i := range 256 {
		x := int32(i - 128)
		t.crR[i] = (fix(1.40200)*x + half) >> 16
		t.cbB[i] = (fix(1.77200)*x + half) >> 16
		t.crG[i] = -fix(0.71414) * x
		t.cbG[i] = -fix(0.34414)*x + half
	}
	return t
}()

// chroma upsamples one luma row's worth of Cb and Cr.
type chroma struct {
	cb, cr []int32 // full width
	sum    []int32 // scratch: vertical sums, one per chroma column
}

func newChroma(w int) *chroma {
	return &chroma{cb: make([]int32, w), cr: make([]int32, w), sum: make([]int32, w/2+2)}
}

// fill upsamples the chroma of luma row y (relative to the image origin).
// 4:2:0 and 4:2:2 use libjpeg's fancy filters; other layouts repeat samples.
func (c *chroma) fill(im *image.YCbCr, y int) {
	switch {
	case im.Rect.Min != image.Point{}:
		c.nearest(im, y) // a sub-image: not what a decoder returns
	case im.SubsampleRatio == image.YCbCrSubsampleRatio420:
		c.h2v2(im.Cb, im, y, c.cb)
		c.h2v2(im.Cr, im, y, c.cr)
	case im.SubsampleRatio == image.YCbCrSubsampleRatio422:
		c.h2v1(im.Cb[y*im.CStride:], c.cb)
		c.h2v1(im.Cr[y*im.CStride:], c.cr)
	default:
		c.nearest(im, y)
	}
}

// h2v2 is jdsample.c's h2v2_fancy_upsample: 3/4 of the nearer chroma row
// plus 1/4 of the next nearest, then the same across columns.
func (c *chroma) h2v2(plane []uint8, im *image.YCbCr, y int, out []int32) {
	w, ch := len(out), (im.Rect.Dy()+1)/2
	cw := (w + 1) / 2
	near, far := y/2, y/2+1
	if y%2 == 0 {
		far = y/2 - 1
	}
	far = max(0, min(far, ch-1)) // libjpeg repeats the edge rows
	r0, r1 := plane[near*im.CStride:near*im.CStride+cw], plane[far*im.CStride:far*im.CStride+cw]
	sum := c.sum[:cw]
	for i := range sum {
		sum[i] = 3*int32(r0[i]) + int32(r1[i])
	}
	if cw == 1 {
		out[0] = (4*sum[0] + 8) >> 4
		if w > 1 {
			out[1] = (4*sum[0] + 7) >> 4
		}
		return
	}
	out[0] = (4*sum[0] + 8) >> 4
	out[1] = (3*sum[0] + sum[1] + 7) >> 4
	for i := 1; i < cw-1; i++ {
		out[2*i] = (3*sum[i] + sum[i-1] + 8) >> 4
		out[2*i+1] = (3*sum[i] + sum[i+1] + 7) >> 4
	}
	last := cw - 1
	out[2*last] = (3*sum[last] + sum[last-1] + 8) >> 4
	if 2*last+1 < w {
		out[2*last+1] = (4*sum[last] + 7) >> 4
	}
}

// h2v1 is jdsample.c's h2v1_fancy_upsample (4:2:2).
func (c *chroma) h2v1(row []uint8, out []int32) {
	w := len(out)
	cw := (w + 1) / 2
	in := row[:cw]
	if cw == 1 {
		for i := range out {
			out[i] = int32(in[0])
		}
		return
	}
	out[0] = int32(in[0])
	out[1] = (3*int32(in[0]) + int32(in[1]) + 2) >> 2
	for i := 1; i < cw-1; i++ {
		v := 3 * int32(in[i])
		out[2*i] = (v + int32(in[i-1]) + 1) >> 2
		out[2*i+1] = (v + int32(in[i+1]) + 2) >> 2
	}
	last := cw - 1
	out[2*last] = (3*int32(in[last]) + int32(in[last-1]) + 1) >> 2
	if 2*last+1 < w {
		out[2*last+1] = int32(in[last])
	}
}

// nearest repeats chroma samples, as color.YCbCr does.
func (c *chroma) nearest(im *image.YCbCr, y int) {
	y += im.Rect.Min.Y
	for x := range c.cb {
		i := im.COffset(im.Rect.Min.X+x, y)
		c.cb[x], c.cr[x] = int32(im.Cb[i]), int32(im.Cr[i])
	}
}

// convertYCbCrRow writes luma row y as RGB levels with libjpeg's tables.
func convertYCbCrRow(im *image.YCbCr, c *chroma, y int, out []float32) {
	c.fill(im, y)
	n := len(out) / 3
	yrow := im.Y[im.YOffset(im.Rect.Min.X, im.Rect.Min.Y+y):][:n]
	cb, cr := c.cb[:n], c.cr[:n]
	out = out[:3*n]
	for x, yv := range yrow {
		l, b, r := int32(yv), cb[x], cr[x]
		out[3*x] = level(l + jfif.crR[r&255])
		out[3*x+1] = level(l + (jfif.cbG[b&255]+jfif.crG[r&255])>>16)
		out[3*x+2] = level(l + jfif.cbB[b&255])
	}
}

// level clamps to 0..255, as libjpeg's range_limit table does.
func level(v int32) float32 {
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return float32(v)
}
