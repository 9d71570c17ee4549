// Package aravis reads GigE Vision and USB3 Vision cameras through Aravis
// (Debian libaravis-dev, cgo) as a live source: aravis://CAMERA-ID, where
// the id is the camera's name (Vendor-Model-Serial, as arv-tool lists it)
// or its IP address. Mono8, RGB8 and 8-bit Bayer frames are delivered as
// pixels (Bayer debayered), with no JPEG round trip.
package aravis

/*
#cgo pkg-config: aravis-0.8
#include <arv.h>
#include <stdlib.h>

static char *vise_take(GError *e) {
	char *m = g_strdup(e->message);
	g_error_free(e);
	return m;
}

// vise_open opens a camera. The packet-socket fast path is disabled: it
// reads frames from the NIC the camera was discovered on, and misses them
// when they arrive over another (see docs/decisions/0011).
static ArvCamera *vise_open(const char *id, char **err) {
	GError *e = NULL;
	ArvCamera *c = arv_camera_new(id, &e);
	if (e != NULL) {
		*err = vise_take(e);
		return NULL;
	}
	if (arv_camera_is_gv_device(c))
		arv_gv_device_set_stream_options(ARV_GV_DEVICE(arv_camera_get_device(c)), ARV_GV_STREAM_OPTION_PACKET_SOCKET_DISABLED);
	return c;
}

enum { SET_PIXEL_FORMAT, SET_EXPOSURE, SET_GAIN, SET_FRAME_RATE, SET_TRIGGER };

static char *vise_set(ArvCamera *c, int what, const char *s, double v) {
	GError *e = NULL;
	switch (what) {
	case SET_PIXEL_FORMAT: arv_camera_set_pixel_format_from_string(c, s, &e); break;
	case SET_EXPOSURE: arv_camera_set_exposure_time(c, v, &e); break;
	case SET_GAIN: arv_camera_set_gain(c, v, &e); break;
	case SET_FRAME_RATE: arv_camera_set_frame_rate(c, v, &e); break;
	case SET_TRIGGER: arv_camera_set_trigger(c, s, &e); break;
	}
	return e ? vise_take(e) : NULL;
}

static ArvStream *vise_start(ArvCamera *c, int nbuf, char **err) {
	GError *e = NULL;
	guint payload = arv_camera_get_payload(c, &e);
	if (e != NULL) { *err = vise_take(e); return NULL; }
	ArvStream *s = arv_camera_create_stream(c, NULL, NULL, &e);
	if (e != NULL) { *err = vise_take(e); return NULL; }
	// The kernel's default UDP buffer overflows within a frame at a few
	// MB/s on a busy machine: frames then arrive incomplete (the fake
	// camera at 25 fps gave 3-4). It is sized to two frames from the start
	// (Aravis's AUTO sizes it only once a frame is being received; the
	// kernel caps it at net.core.rmem_max). A frame whose packets take
	// longer than the frame retention (100 ms by default) to arrive is
	// given up (status TIMEOUT): on this loaded 2-core machine that lost a
	// triggered camera's first frame one time in eight, so a part went
	// uninspected. 500 ms keeps such frames.
	if (ARV_IS_GV_STREAM(s))
		g_object_set(s, "socket-buffer", ARV_GV_STREAM_SOCKET_BUFFER_FIXED,
			"socket-buffer-size", (gint) MIN(2 * (gint64) payload, G_MAXINT),
			"frame-retention", 500000, NULL);
	for (int i = 0; i < nbuf; i++)
		arv_stream_push_buffer(s, arv_buffer_new(payload, NULL));
	arv_camera_set_acquisition_mode(c, ARV_ACQUISITION_MODE_CONTINUOUS, &e);
	if (e == NULL)
		arv_camera_start_acquisition(c, &e);
	if (e != NULL) {
		g_object_unref(s);
		*err = vise_take(e);
		return NULL;
	}
	return s;
}

typedef struct {
	ArvBuffer *buf;
	int status, w, h, kind;
	const void *data;
	size_t size;
} vise_frame;

enum { KIND_OTHER, KIND_MONO8, KIND_RGB8, KIND_BAYER_RG8, KIND_BAYER_GR8, KIND_BAYER_GB8, KIND_BAYER_BG8 };

static int vise_kind(ArvPixelFormat f) {
	switch (f) {
	case ARV_PIXEL_FORMAT_MONO_8: return KIND_MONO8;
	case ARV_PIXEL_FORMAT_RGB_8_PACKED: return KIND_RGB8;
	case ARV_PIXEL_FORMAT_BAYER_RG_8: return KIND_BAYER_RG8;
	case ARV_PIXEL_FORMAT_BAYER_GR_8: return KIND_BAYER_GR8;
	case ARV_PIXEL_FORMAT_BAYER_GB_8: return KIND_BAYER_GB8;
	case ARV_PIXEL_FORMAT_BAYER_BG_8: return KIND_BAYER_BG8;
	}
	return KIND_OTHER;
}

static int vise_pop(ArvStream *s, guint64 timeout_us, vise_frame *f) {
	ArvBuffer *b = arv_stream_timeout_pop_buffer(s, timeout_us);
	if (b == NULL)
		return 0;
	f->buf = b;
	f->status = arv_buffer_get_status(b);
	if (f->status == ARV_BUFFER_STATUS_SUCCESS) {
		f->data = arv_buffer_get_image_data(b, &f->size);
		f->w = arv_buffer_get_image_width(b);
		f->h = arv_buffer_get_image_height(b);
		f->kind = vise_kind(arv_buffer_get_image_pixel_format(b));
	}
	return 1;
}

static void vise_push(ArvStream *s, ArvBuffer *b) { arv_stream_push_buffer(s, b); }

static void vise_stop(ArvCamera *c, ArvStream *s) {
	arv_camera_stop_acquisition(c, NULL);
	g_object_unref(s);
}

static void vise_close(ArvCamera *c) { g_object_unref(c); }

*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/vise-edge/vise/source"
)

// Settings are the camera settings from the component configuration;
// zero values leave the camera's own.
type Settings struct {
	PixelFormat string  // Mono8, RGB8, BayerRG8...
	Exposure    float64 // µs
	Gain        float64 // dB
	FrameRate   float64 // frames/s
	// Trigger is the camera's trigger source (TriggerMode On with
	// TriggerSource this, e.g. Line1): the camera takes a frame per pulse.
	Trigger string
	// Fire, with Trigger "Software", executes the camera's TriggerSoftware
	// command once per value received: the camera exposes one frame.
	Fire <-chan struct{}
}

// ErrNotFound is a camera id no camera answers to.
var ErrNotFound = errors.New("no such camera")

// camera is one open Aravis camera.
type camera struct {
	c       *C.ArvCamera
	s       *C.ArvStream
	fireErr atomic.Pointer[error] // why TriggerSoftware failed: the camera is lost
	// frames says how each frame ended: true complete, false incomplete
	// (it paces and repeats software triggers).
	frames chan bool
}

func open(id string, set Settings) (*camera, error) {
	cid := C.CString(id)
	defer C.free(unsafe.Pointer(cid))
	var cerr *C.char
	c := C.vise_open(cid, &cerr)
	if c == nil {
		msg := take(cerr)
		return nil, fmt.Errorf("aravis: camera %q: %w (%s); list cameras with arv-tool-0.8 or give its IP address", id, ErrNotFound, msg)
	}
	cam := &camera{c: c, frames: make(chan bool, 1)}
	if err := cam.apply(set); err != nil {
		cam.close()
		return nil, err
	}
	return cam, nil
}

func (cam *camera) apply(set Settings) error {
	steps := []struct {
		what  C.int
		name  string
		s     string
		v     float64
		given bool
	}{
		{C.SET_PIXEL_FORMAT, "pixel_format", set.PixelFormat, 0, set.PixelFormat != ""},
		{C.SET_EXPOSURE, "exposure", "", set.Exposure, set.Exposure > 0},
		{C.SET_GAIN, "gain", "", set.Gain, set.Gain > 0},
		{C.SET_FRAME_RATE, "frame_rate", "", set.FrameRate, set.FrameRate > 0},
		{C.SET_TRIGGER, "camera trigger", set.Trigger, 0, set.Trigger != ""},
	}
	for _, st := range steps {
		if !st.given {
			continue
		}
		cs := C.CString(st.s)
		msg := C.vise_set(cam.c, st.what, cs, C.double(st.v))
		C.free(unsafe.Pointer(cs))
		if msg != nil {
			return fmt.Errorf("aravis: set %s: %s", st.name, take(msg))
		}
	}
	return nil
}

func (cam *camera) start() error {
	var cerr *C.char
	cam.s = C.vise_start(cam.c, 8, &cerr)
	if cam.s == nil {
		return fmt.Errorf("aravis: start acquisition: %s", take(cerr))
	}
	return nil
}

// next waits up to timeout for a frame; incomplete frames (lost packets)
// are skipped and counted.
func (cam *camera) next(timeout time.Duration) (image.Image, int, error) {
	skipped := 0
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, skipped, source.ErrStalled
		}
		var f C.vise_frame
		if C.vise_pop(cam.s, C.guint64(left.Microseconds()), &f) == 0 {
			return nil, skipped, source.ErrStalled
		}
		if f.status != C.ARV_BUFFER_STATUS_SUCCESS {
			C.vise_push(cam.s, f.buf)
			skipped++
			cam.ended(false)
			continue
		}
		cam.ended(true)
		data := C.GoBytes(f.data, C.int(f.size)) // copied: the buffer goes back to Aravis
		C.vise_push(cam.s, f.buf)
		img, err := toImage(int(f.kind), int(f.w), int(f.h), data)
		return img, skipped, err
	}
}

func (cam *camera) close() {
	if cam.s != nil {
		C.vise_stop(cam.c, cam.s)
	}
	C.vise_close(cam.c)
}

func take(s *C.char) string {
	if s == nil {
		return "unknown error"
	}
	defer C.g_free(C.gpointer(unsafe.Pointer(s)))
	return C.GoString(s)
}
