// Package sourcetest starts real camera servers on 127.0.0.1 for tests:
// GStreamer's gst-rtsp-server (rtsp_server.py) and ffmpeg's own HTTP
// listener serving multipart MJPEG.
package sourcetest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// repo is the repository root, found from this file's place in it.
var repo = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}()

// NeedTools skips when the Debian packages the camera tests use are
// missing, unless VISE_REQUIRE_CAMERA is set (make test sets it; its
// set-up installs them).
func NeedTools(t *testing.T, rtsp bool) {
	t.Helper()
	missing := ""
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		missing = "ffmpeg"
	} else if rtsp {
		probe := exec.Command("/usr/bin/python3", "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer")
		if probe.Run() != nil {
			missing = "python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-ugly"
		}
	}
	if missing == "" {
		return
	}
	if os.Getenv("VISE_REQUIRE_CAMERA") != "" {
		t.Fatalf("VISE_REQUIRE_CAMERA is set but %s is missing (scripts/setup.sh test installs it)", missing)
	}
	t.Skipf("camera test tools missing: %s (scripts/setup.sh test installs them)", missing)
}

func FreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// CameraImages copies n sample images as img-00.jpg... into a folder.
func CameraImages(t *testing.T, n int) (string, [][]byte) {
	t.Helper()
	sampleImages := filepath.Join(repo, "samples", "images")
	entries, err := os.ReadDir(sampleImages)
	if err != nil || len(entries) < n {
		t.Fatalf("sample images in %s: %v", sampleImages, err)
	}
	dir := t.TempDir()
	var imgs [][]byte
	for i := range n {
		b, err := os.ReadFile(filepath.Join(sampleImages, entries[i].Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "img-"+pad2(i)+".jpg"), b, 0o644)
		imgs = append(imgs, b)
	}
	return dir, imgs
}

func pad2(i int) string { return strings.Repeat("0", 2-len(strconv.Itoa(i))) + strconv.Itoa(i) }

// Server is a camera server process the test can stop and start again.
type Server struct {
	t    *testing.T
	args []string
	cmd  *exec.Cmd
}

// RTSPServer serves the images of dir at rtsp://127.0.0.1:PORT/cam.
func RTSPServer(t *testing.T, port int, dir string, extra ...string) *Server {
	t.Helper()
	script := filepath.Join(repo, "source", "sourcetest", "rtsp_server.py")
	s := &Server{t: t, args: append([]string{"/usr/bin/python3", script, strconv.Itoa(port), dir}, extra...)}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) Start() {
	s.t.Helper()
	cmd := exec.Command(s.args[0], s.args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ready <- sc.Scan() && sc.Text() == "ready"
		for sc.Scan() {
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			s.Stop()
			s.t.Fatalf("%v did not start", s.args)
		}
	case <-time.After(20 * time.Second):
		s.Stop()
		s.t.Fatalf("%v did not say ready in 20s", s.args)
	}
}

func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	s.cmd.Wait()
	s.cmd = nil
}

// MJPEGServer has ffmpeg serve the JPEGs in a loop as multipart MJPEG
// (the way IP cameras serve /video.mjpg) to one client, and returns the URL.
func MJPEGServer(t *testing.T, frames [][]byte, fps int) string {
	t.Helper()
	url, _ := StoppableMJPEGServer(t, frames, fps)
	return url
}

// StoppableMJPEGServer is MJPEGServer with a function that stops the
// camera (the connection ends, reconnects are refused).
func StoppableMJPEGServer(t *testing.T, frames [][]byte, fps int) (url string, stop func()) {
	t.Helper()
	seq := filepath.Join(t.TempDir(), "seq.mjpeg")
	var all []byte
	for _, f := range frames {
		all = append(all, f...)
	}
	os.WriteFile(seq, all, 0o644)
	port := FreePort(t)
	url = "http://127.0.0.1:" + strconv.Itoa(port) + "/cam.mjpg"
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1",
		"-f", "mjpeg", "-framerate", strconv.Itoa(fps), "-i", seq, "-c:v", "copy", "-f", "mpjpeg", "-listen", "1", url)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }) }
	t.Cleanup(stop)
	waitListening(t, port)
	return url, stop
}

// waitListening polls until something accepts on port, without
// connecting to it (ffmpeg -listen 1 serves exactly one connection).
func waitListening(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile("/proc/net/tcp")
		if strings.Contains(string(b), fmt.Sprintf(":%04X 00000000:0000 0A", port)) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on port %d after 20s", port)
}
