package turbo

/*
#include <stdlib.h>
#include <turbojpeg.h>
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/vise-edge/vise/infer"
)

// EncodeOptions choose how Encode writes a JPEG.
type EncodeOptions struct {
	Quality     int  // 1..100; 0 means 90
	Progressive bool // progressive scans instead of baseline
}

// Encode writes p (1 channel gray, 3 RGB, or 4 Adobe CMYK) as a JPEG,
// 4:2:0 for colour. vise-infer bench uses it to make camera-sized frames;
// tests use it to make the JPEGs a camera could send.
func Encode(p infer.Pixels, o EncodeOptions) ([]byte, error) {
	if o.Quality == 0 {
		o.Quality = 90
	}
	pf, sub := map[int]C.int{1: C.TJPF_GRAY, 3: C.TJPF_RGB, 4: C.TJPF_CMYK}[p.Channels], C.int(C.TJSAMP_420)
	if p.Channels == 1 {
		sub = C.TJSAMP_GRAY
	} else if p.Channels != 3 && p.Channels != 4 {
		return nil, fmt.Errorf("jpeg encode: %d channels; want 1, 3 or 4", p.Channels)
	}
	if len(p.Pix) < p.Width*p.Height*p.Channels || p.Width <= 0 || p.Height <= 0 {
		return nil, fmt.Errorf("jpeg encode: %d bytes for %dx%dx%d pixels", len(p.Pix), p.Width, p.Height, p.Channels)
	}
	h := C.tjInitCompress()
	if h == nil {
		return nil, fmt.Errorf("libjpeg-turbo: %s", C.GoString(C.tjGetErrorStr2(nil)))
	}
	defer C.tjDestroy(h)
	flags := C.int(C.TJFLAG_ACCURATEDCT)
	if o.Progressive {
		flags |= C.TJFLAG_PROGRESSIVE
	}
	var out *C.uchar
	var size C.ulong
	if C.tjCompress2(h, (*C.uchar)(unsafe.Pointer(&p.Pix[0])), C.int(p.Width), 0, C.int(p.Height), pf,
		&out, &size, sub, C.int(o.Quality), flags) != 0 {
		return nil, fmt.Errorf("jpeg encode: %s", C.GoString(C.tjGetErrorStr2(h)))
	}
	defer C.tjFree(out)
	return C.GoBytes(unsafe.Pointer(out), C.int(size)), nil
}
