package infer

// Pixels is a decoded image: 8-bit samples, interleaved, rows packed
// (Width*Channels bytes each). Channels is 1 (gray) or 3 (RGB). A decoder
// may deliver it smaller than the original image (JPEG DCT scaling); the
// letterbox geometry stays in original pixels.
type Pixels struct {
	Pix           []byte
	Width, Height int
	Channels      int
}

// Filler writes pixels into the network input in one pass over the
// destination: bilinear resize, letterbox padding, scaling to 0..1 and
// HWC->NCHW together. It keeps its tap tables between frames, so a stream
// of same-size frames allocates nothing. Not safe for concurrent use.
type Filler struct {
	cols, rows     []tap
	colKey, rowKey [3]int
}

// tap is one destination pixel's two source neighbours (as offsets into
// a row, or into Pix for rows) and their weights, which sum to 2048.
type tap struct {
	o0, o1 int32
	w0, w1 int32
}

// coefBits is OpenCV's INTER_RESIZE_COEF_BITS: its 8-bit bilinear resize
// works in 11-bit fixed point in each direction, and doing the same keeps
// the tensor within a grey level of Ultralytics' preprocessing.
const coefBits = 11

// unit maps a level to the network's 0..1 scale.
var unit = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// Fill letterboxes p into dst (len 3*Width*Height, NCHW). p may be a
// scaled-down decode of the lb.ImgW x lb.ImgH image.
func (f *Filler) Fill(lb Letterbox, p Pixels, dst []float32) {
	plane := lb.Width * lb.Height
	r, g, b := dst[:plane], dst[plane:2*plane], dst[2*plane:3*plane]
	newW, newH := lb.resized()
	lb.fillPadding(r, g, b, newW, newH)
	cols := taps(&f.cols, &f.colKey, newW, p.Width, p.Channels)
	rows := taps(&f.rows, &f.rowKey, newH, p.Height, p.Width*p.Channels)
	for y, ry := range rows {
		top, bot := p.Pix[ry.o0:], p.Pix[ry.o1:]
		out := (y+lb.PadY)*lb.Width + lb.PadX
		ro, gro, bo := r[out:out+newW], g[out:out+newW], b[out:out+newW]
		if p.Channels == 1 {
			for x, c := range cols {
				v := blend(top, bot, c, ry, 0)
				ro[x], gro[x], bo[x] = v, v, v
			}
			continue
		}
		for x, c := range cols {
			ro[x] = blend(top, bot, c, ry, 0)
			gro[x] = blend(top, bot, c, ry, 1)
			bo[x] = blend(top, bot, c, ry, 2)
		}
	}
}

// blend is one channel k of one destination pixel: horizontal, then
// vertical, rounded to a whole level as OpenCV's 8-bit resize does.
func blend(top, bot []byte, c, r tap, k int32) float32 {
	t := int32(top[c.o0+k])*c.w0 + int32(top[c.o1+k])*c.w1
	u := int32(bot[c.o0+k])*c.w0 + int32(bot[c.o1+k])*c.w1
	return unit[(t*r.w0+u*r.w1+1<<(2*coefBits-1))>>(2*coefBits)]
}

// taps returns the table for n destination pixels from src source pixels
// step bytes apart, rebuilding *buf only when the sizes change.
func taps(buf *[]tap, key *[3]int, n, src, step int) []tap {
	if k := [3]int{n, src, step}; *key != k || len(*buf) != n {
		*key = k
		if cap(*buf) < n {
			*buf = make([]tap, n)
		}
		*buf = (*buf)[:n]
		scale := 1 / (float64(n) / float64(src)) // as cv::resize derives it
		for d := range *buf {
			i0, i1, fx := srcPos(d, scale, src)
			w0 := int32(float32(1<<coefBits)*(1-fx) + 0.5)
			(*buf)[d] = tap{int32(i0 * step), int32(i1 * step), w0, 1<<coefBits - w0}
		}
	}
	return *buf
}

// srcPos maps a destination pixel to its two source neighbours and the
// weight of the second, OpenCV style: centres aligned, clamped at edges.
func srcPos(d int, scale float64, n int) (int, int, float32) {
	s := float32((float64(d)+0.5)*scale - 0.5)
	if s < 0 {
		s = 0
	}
	i0 := int(s)
	f := s - float32(i0)
	if i0 >= n-1 {
		return n - 1, n - 1, 0
	}
	return i0, i0 + 1, f
}
