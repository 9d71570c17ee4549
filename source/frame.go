// Package source delivers camera frames to vise-infer: live streams
// (rtsp:// and http:// MJPEG through an ffmpeg child process), with the
// newest frame winning when inference is slower than the camera, lost
// cameras reconnected with capped backoff, and software triggers that pick
// one frame per part. Frames are encoded JPEG bytes, so nothing here
// depends on how the runner decodes them.
package source

import (
	"fmt"
	"image"
	"strings"
	"time"
)

// Frame is one camera image on its way to the model.
type Frame struct {
	// Data is the frame as a JPEG. Empty for a frame read from a file, which
	// Path names instead.
	Data []byte
	Path string
	// Image is the frame as pixels, for cameras that deliver raw pixels
	// (Aravis): no JPEG round trip. Data and Path are empty then.
	Image image.Image
	// Name identifies the frame in results: the file name, or the camera
	// and a sequence number.
	Name string
	// Seq counts frames from this source, starting at 1.
	Seq uint64
	// CapturedAt is when the frame arrived from the camera: the start of
	// every latency the runner measures.
	CapturedAt time.Time
	// PartID is the part the frame shows, given by a trigger.
	PartID string
}

// Kind is how a source URL is read.
type Kind string

const (
	KindFolder Kind = "folder" // a directory of image files
	KindStream Kind = "stream" // rtsp://, rtsps:// or http(s):// through ffmpeg
	KindAravis Kind = "aravis" // aravis://CAMERA-ID: GigE Vision / USB3 Vision
)

// Classify tells a stream URL from a folder path, refusing URL schemes
// vise-infer cannot read.
func Classify(src string) (Kind, error) {
	scheme, _, ok := strings.Cut(src, "://")
	if !ok {
		return KindFolder, nil
	}
	switch strings.ToLower(scheme) {
	case "rtsp", "rtsps", "http", "https":
		return KindStream, nil
	case "aravis":
		return KindAravis, nil
	}
	return "", fmt.Errorf("source %q: unknown scheme %q: use rtsp://, http:// (MJPEG), aravis://CAMERA or a folder path", src, scheme)
}
