package source

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vise-edge/vise/source/sourcetest"
)

func newStream(t *testing.T, url string, stall time.Duration) *Stream {
	t.Helper()
	s, err := NewStream(StreamOptions{URL: url, Stall: stall, MinBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func decodeSize(t *testing.T, f Frame) (int, int) {
	t.Helper()
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(f.Data))
	if err != nil {
		t.Fatalf("frame %d is not a JPEG: %v", f.Seq, err)
	}
	if _, err := jpeg.Decode(bytes.NewReader(f.Data)); err != nil {
		t.Fatalf("frame %d does not decode: %v", f.Seq, err)
	}
	return cfg.Width, cfg.Height
}

func TestRTSP(t *testing.T) {
	sourcetest.NeedTools(t, true)
	t.Parallel()
	dir, _ := sourcetest.CameraImages(t, 2)
	port := sourcetest.FreePort(t)
	sourcetest.RTSPServer(t, port, dir, "--size", "320x240")
	s := newStream(t, "rtsp://127.0.0.1:"+strconv.Itoa(port)+"/cam", 5*time.Second)
	frames := collect(t, s, 10, 20*time.Second)
	for i, f := range frames {
		if w, h := decodeSize(t, f); w != 320 || h != 240 {
			t.Errorf("frame %d is %dx%d, want 320x240", i, w, h)
		}
		if f.Seq != uint64(i+1) || f.CapturedAt.IsZero() {
			t.Errorf("frame %d: seq %d captured %v", i, f.Seq, f.CapturedAt)
		}
	}
	if st := s.Status(); st.Frames < 10 || st.State != StateStreaming {
		t.Errorf("status = %+v, want streaming with 10 frames", st)
	}
}

// A camera whose resolution is changed mid-stream keeps delivering
// frames that decode.
func TestRTSPResolutionChange(t *testing.T) {
	sourcetest.NeedTools(t, true)
	t.Parallel()
	dir, _ := sourcetest.CameraImages(t, 2)
	port := sourcetest.FreePort(t)
	sourcetest.RTSPServer(t, port, dir, "--size", "320x240", "--fps", "20", "--switch-to", "640x360", "--switch-after", "0.5")
	s := newStream(t, "rtsp://127.0.0.1:"+strconv.Itoa(port)+"/cam", 5*time.Second)
	start := time.Now()
	frames := collect(t, s, 40, 20*time.Second)
	late := 0
	for _, f := range frames {
		decodeSize(t, f)
		if f.CapturedAt.Sub(start) > time.Second {
			late++
		}
	}
	if late == 0 || s.Status().Reconnects != 0 {
		t.Errorf("%d frames after the switch, %d reconnects; want frames and no reconnect", late, s.Status().Reconnects)
	}
}

// MJPEG frames pass through ffmpeg untouched: the bytes the camera served
// are the bytes the runner gets, and a corrupt one arrives as it was, with
// the next one intact.
func TestMJPEGPassThroughAndCorruptFrame(t *testing.T) {
	sourcetest.NeedTools(t, false)
	t.Parallel()
	_, imgs := sourcetest.CameraImages(t, 2)
	corrupt := bytes.Clone(imgs[0])
	for i := len(corrupt) / 2; i < len(corrupt)/2+2000; i++ {
		corrupt[i] = 0x55
	}
	url := sourcetest.MJPEGServer(t, [][]byte{imgs[0], corrupt, imgs[1]}, 25)
	s := newStream(t, url, 5*time.Second)
	frames := collect(t, s, 9, 20*time.Second)
	sawCorrupt := false
	for i, f := range frames {
		switch {
		case bytes.Equal(f.Data, corrupt):
			sawCorrupt = true
			if _, err := jpeg.Decode(bytes.NewReader(f.Data)); err == nil {
				t.Fatal("the corrupt frame decodes; the test needs one that does not")
			}
			if i+1 < len(frames) && !bytes.Equal(frames[i+1].Data, imgs[1]) {
				t.Errorf("frame after the corrupt one is not the next served image")
			}
		case !bytes.Equal(f.Data, imgs[0]) && !bytes.Equal(f.Data, imgs[1]):
			t.Errorf("frame %d (%d bytes) is none of the served JPEGs", i, len(f.Data))
		}
	}
	if !sawCorrupt {
		t.Error("the corrupt frame never arrived")
	}
}

// A server that refuses (no such stream, nothing listening) leaves the
// stream degraded with ffmpeg's reason, retrying, never returning.
func TestRefused(t *testing.T) {
	sourcetest.NeedTools(t, true)
	t.Parallel()
	dir, _ := sourcetest.CameraImages(t, 1)
	port := sourcetest.FreePort(t)
	sourcetest.RTSPServer(t, port, dir)
	closed := sourcetest.FreePort(t)
	tests := []struct{ url, reason string }{
		{"rtsp://127.0.0.1:" + strconv.Itoa(port) + "/no-such-stream", "404"},
		{"rtsp://127.0.0.1:" + strconv.Itoa(closed) + "/cam", "refused"},
	}
	for _, tc := range tests {
		s := newStream(t, tc.url, 5*time.Second)
		st := runUntil(t, s, func(st Status) bool { return st.Reconnects >= 2 })
		if st.State != StateDegraded || !strings.Contains(st.Reason, tc.reason) {
			t.Errorf("%s: status %+v, want degraded naming %q", tc.url, st, tc.reason)
		}
	}
}

// A server that accepts and then says nothing is a stalled camera: the
// stall timeout ends the attempt and the stream reconnects.
func TestStalled(t *testing.T) {
	sourcetest.NeedTools(t, false)
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			defer c.Close() // hold it open, say nothing
		}
	}()
	s, err := NewStream(StreamOptions{URL: "rtsp://" + l.Addr().String() + "/cam", Stall: 500 * time.Millisecond, Connect: 500 * time.Millisecond,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// ffmpeg may be slow to start on a loaded machine: wait for two
	// connections that the server accepted and the stall ended.
	st := runUntil(t, s, func(st Status) bool { return st.Reconnects >= 2 && accepted.Load() >= 2 })
	if st.State != StateDegraded || !strings.Contains(st.Reason, "no frame for 500ms") {
		t.Errorf("status %+v after %d connections; want degraded for no frame, reconnecting", st, accepted.Load())
	}
}

// A camera gone for 10 s comes back without anyone restarting anything.
func TestCameraGoneAndBack(t *testing.T) {
	sourcetest.NeedTools(t, true)
	t.Parallel()
	dir, _ := sourcetest.CameraImages(t, 2)
	port := sourcetest.FreePort(t)
	srv := sourcetest.RTSPServer(t, port, dir)
	s, err := NewStream(StreamOptions{URL: "rtsp://127.0.0.1:" + strconv.Itoa(port) + "/cam", Stall: 2 * time.Second,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := make(chan Frame, 1)
	go s.Run(ctx, ch)
	next := func(within time.Duration) Frame {
		select {
		case f := <-ch:
			return f
		case <-time.After(within):
			t.Fatalf("no frame within %s; status %+v", within, s.Status())
		}
		return Frame{}
	}
	next(20 * time.Second)
	srv.Stop()
	for s.Status().State != StateDegraded {
		select {
		case <-ch: // frames still in flight
		case <-time.After(10 * time.Millisecond):
		}
	}
	gone := time.Now()
	for time.Since(gone) < 10*time.Second {
		select {
		case f := <-ch:
			if f.CapturedAt.After(gone) {
				t.Fatal("a frame arrived while the camera was gone")
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
	if st := s.Status(); st.State != StateDegraded || st.Reconnects < 3 {
		t.Errorf("status while gone = %+v, want degraded and retrying", st)
	}
	srv.Start()
	back := time.Now()
	f := next(20 * time.Second)
	for f.CapturedAt.Before(back) {
		f = next(20 * time.Second)
	}
	t.Logf("first frame %s after the camera returned (backoff capped at 1s)", f.CapturedAt.Sub(back).Round(time.Millisecond))
	if st := s.Status(); st.State != StateStreaming {
		t.Errorf("status after return = %+v, want streaming", st)
	}
}

func TestNoFFmpeg(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := NewStream(StreamOptions{URL: "rtsp://127.0.0.1:1/cam"})
	if !errors.Is(err, ErrNoFFmpeg) || !strings.Contains(err.Error(), "Debian package ffmpeg") {
		t.Fatalf("err = %v, want one naming the Debian package ffmpeg", err)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		src  string
		want Kind
		err  string
	}{
		{"/var/camera", KindFolder, ""},
		{"rtsp://cam/stream", KindStream, ""},
		{"HTTP://cam/video.mjpg", KindStream, ""},
		{"ftp://cam/x", "", `unknown scheme "ftp"`},
	}
	for _, tc := range tests {
		got, err := Classify(tc.src)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Classify(%q) = %q, %v; want %q, %q", tc.src, got, err, tc.want, tc.err)
		}
	}
}

// runUntil runs s until ok(status) holds (failing after 20 s), then stops
// it and returns that status.
func runUntil(t *testing.T, s *Stream, ok func(Status) bool) Status {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, make(chan Frame)) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for !ok(s.Status()) {
		if time.Now().After(deadline) {
			t.Fatalf("status %+v after 20s", s.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s.Status()
}
