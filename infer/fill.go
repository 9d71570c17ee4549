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
// HWC->NCHW together. It keeps its tables and two resampled rows between
// frames, so a stream of same-size frames allocates nothing. Not safe for
// concurrent use.
type Filler struct {
	cols, rows     []tap
	colKey, rowKey [3]int
	hrow           [2][]int32 // source rows resampled across, newW*channels each
	hsrc           [2]int32   // the source row (offset in Pix) each holds
	next           int        // the slot to replace
}

// tap is one destination pixel's two source neighbours (as offsets into
// a row, or into Pix for rows) and their weights, which sum to 2048.
type tap struct {
	o0, o1 int32
	w0, w1 int32
}

// coefBits is OpenCV's INTER_RESIZE_COEF_BITS: its 8-bit bilinear resize
// works in 11-bit fixed point in each direction, across then down, and
// doing the same keeps the tensor within a grey level of Ultralytics'
// preprocessing.
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
	f.hsrc = [2]int32{-1, -1}
	const half = 1 << (2*coefBits - 1)
	for y, ry := range rows {
		out := (y+lb.PadY)*lb.Width + lb.PadX
		ro, gro, bo := r[out:out+newW], g[out:out+newW], b[out:out+newW]
		h0, h1 := f.across(p, cols, ry.o0), f.across(p, cols, ry.o1)
		w0, w1 := ry.w0, ry.w1
		if p.Channels == 1 {
			h0, h1 = h0[:len(ro)], h1[:len(ro)]
			for x := range ro {
				v := unit[uint8((h0[x]*w0+h1[x]*w1+half)>>(2*coefBits))]
				ro[x], gro[x], bo[x] = v, v, v
			}
			continue
		}
		h0, h1 = h0[:3*len(ro)], h1[:3*len(ro)]
		for x := range ro {
			a, c := h0[3*x:3*x+3:3*x+3], h1[3*x:3*x+3:3*x+3]
			ro[x] = unit[uint8((a[0]*w0+c[0]*w1+half)>>(2*coefBits))]
			gro[x] = unit[uint8((a[1]*w0+c[1]*w1+half)>>(2*coefBits))]
			bo[x] = unit[uint8((a[2]*w0+c[2]*w1+half)>>(2*coefBits))]
		}
	}
}

// across returns the source row at offset off resampled to the output
// width, from the two-row cache when a neighbouring output row needed it.
func (f *Filler) across(p Pixels, cols []tap, off int32) []int32 {
	for i, s := range f.hsrc {
		if s == off {
			return f.hrow[i]
		}
	}
	i := f.next
	f.next ^= 1
	f.hsrc[i] = off
	n := len(cols) * p.Channels
	if cap(f.hrow[i]) < n {
		f.hrow[i] = make([]int32, n)
	}
	out := f.hrow[i][:n]
	src := p.Pix[off : int(off)+p.Width*p.Channels]
	if p.Channels == 1 {
		for x, c := range cols {
			out[x] = int32(src[c.o0])*c.w0 + int32(src[c.o1])*c.w1
		}
		return out
	}
	for x, c := range cols {
		s0, s1, o := src[c.o0:c.o0+3:c.o0+3], src[c.o1:c.o1+3:c.o1+3], out[3*x:3*x+3:3*x+3]
		o[0] = int32(s0[0])*c.w0 + int32(s1[0])*c.w1
		o[1] = int32(s0[1])*c.w0 + int32(s1[1])*c.w1
		o[2] = int32(s0[2])*c.w0 + int32(s1[2])*c.w1
	}
	return out
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
