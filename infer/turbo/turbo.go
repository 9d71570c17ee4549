// Package turbo decodes and encodes JPEG with libjpeg-turbo's TurboJPEG
// API (Debian libturbojpeg0-dev), through cgo. Decoding uses DCT-domain
// scaling: a frame much larger than the network input is decoded at 1/2,
// 1/4 or 1/8 of its size directly, skipping most of the IDCT and colour
// work. It is linked only into vise-infer; the pure-Go vise binary never
// imports it.
package turbo

/*
#cgo LDFLAGS: -lturbojpeg
#include <stdlib.h>
#include <turbojpeg.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/vise-edge/vise/infer"
)

// Header is what a JPEG's header says, read before any pixel is decoded.
type Header struct {
	Width, Height int
	Gray          bool // one channel
	CMYK          bool // four channels (CMYK or YCCK), converted to RGB
}

// Decoder decodes JPEGs into one buffer it reuses, so a stream of frames
// allocates nothing once the largest has been seen. Not safe for
// concurrent use: give each decoding goroutine its own.
type Decoder struct {
	h   C.tjhandle
	buf []byte
	// hdr receives tjDecompressHeader3's answers: locals passed to C
	// would escape to the heap on every call.
	hdr [4]C.int
}

// NewDecoder creates a decoder; Close releases it.
func NewDecoder() (*Decoder, error) {
	h := C.tjInitDecompress()
	if h == nil {
		return nil, fmt.Errorf("libjpeg-turbo: %s", C.GoString(C.tjGetErrorStr2(nil)))
	}
	return &Decoder{h: h}, nil
}

// Close releases the decoder's libjpeg-turbo state.
func (d *Decoder) Close() {
	if d.h != nil {
		C.tjDestroy(d.h)
		d.h = nil
	}
}

// Header reads the JPEG header.
func (d *Decoder) Header(jpeg []byte) (Header, error) {
	if len(jpeg) == 0 {
		return Header{}, errors.New("jpeg: empty file")
	}
	r := &d.hdr
	if C.tjDecompressHeader3(d.h, (*C.uchar)(unsafe.Pointer(&jpeg[0])), C.ulong(len(jpeg)), &r[0], &r[1], &r[2], &r[3]) != 0 {
		return Header{}, fmt.Errorf("jpeg: %s", d.errText())
	}
	cs := r[3]
	return Header{Width: int(r[0]), Height: int(r[1]), Gray: cs == C.TJCS_GRAY, CMYK: cs == C.TJCS_CMYK || cs == C.TJCS_YCCK}, nil
}

// Decode decodes jpeg (whose header is hdr) at the smallest DCT scale
// that keeps both sides at least minW x minH, or at full size if it is
// smaller than that already. Gray JPEGs decode to one channel, the rest
// to RGB. The pixels live in the decoder's buffer until the next call.
// A warning (a truncated or damaged file) is an error: the frame is not
// what the camera saw.
func (d *Decoder) Decode(jpeg []byte, hdr Header, minW, minH int) (infer.Pixels, error) {
	sf := Scale(hdr.Width, hdr.Height, minW, minH)
	w, h := scaled(hdr.Width, sf), scaled(hdr.Height, sf)
	ch, pf := 3, C.int(C.TJPF_RGB)
	switch {
	case hdr.Gray:
		ch, pf = 1, C.TJPF_GRAY
	case hdr.CMYK:
		ch, pf = 4, C.TJPF_CMYK
	}
	if n := w * h * ch; cap(d.buf) < n {
		d.buf = make([]byte, n)
	}
	buf := d.buf[:w*h*ch]
	if C.tjDecompress2(d.h, (*C.uchar)(unsafe.Pointer(&jpeg[0])), C.ulong(len(jpeg)), (*C.uchar)(unsafe.Pointer(&buf[0])),
		C.int(w), 0, C.int(h), pf, C.TJFLAG_ACCURATEDCT) != 0 {
		return infer.Pixels{}, fmt.Errorf("jpeg: %s (a truncated or damaged file)", d.errText())
	}
	if ch == 4 {
		ch, buf = 3, cmykToRGB(buf)
	}
	return infer.Pixels{Pix: buf, Width: w, Height: h, Channels: ch}, nil
}

func (d *Decoder) errText() string { return C.GoString(C.tjGetErrorStr2(d.h)) }

// cmykToRGB converts Adobe (inverted) CMYK in place, as Photoshop writes
// it and as OpenCV and Go's image/jpeg read it.
func cmykToRGB(p []byte) []byte {
	n := len(p) / 4
	for i := range n {
		c, m, y, k := uint32(p[4*i]), uint32(p[4*i+1]), uint32(p[4*i+2]), uint32(p[4*i+3])
		p[3*i], p[3*i+1], p[3*i+2] = byte((c*k+127)/255), byte((m*k+127)/255), byte((y*k+127)/255)
	}
	return p[:3*n]
}

// Factor is a DCT scaling factor, Num/Denom.
type Factor struct{ Num, Denom int }

// factors are libjpeg-turbo's scaling factors of at most 1, smallest first.
var factors = func() []Factor {
	var n C.int
	sfs := C.tjGetScalingFactors(&n)
	all := unsafe.Slice(sfs, int(n))
	var out []Factor
	for _, s := range all {
		if s.num <= s.denom {
			out = append(out, Factor{int(s.num), int(s.denom)})
		}
	}
	// Smallest first: the first that keeps the minimum size wins.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Num*out[j-1].Denom < out[j-1].Num*out[j].Denom; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}()

// Scale is the DCT scale Decode uses for a w x h JPEG and a minimum size.
func Scale(w, h, minW, minH int) Factor {
	for _, f := range factors {
		if scaled(w, f) >= minW && scaled(h, f) >= minH {
			return f
		}
	}
	return Factor{1, 1}
}

// scaled is TJSCALED: the decoded size of a side at factor f.
func scaled(n int, f Factor) int { return (n*f.Num + f.Denom - 1) / f.Denom }
