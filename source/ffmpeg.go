package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoFFmpeg is returned when the ffmpeg program is missing.
var ErrNoFFmpeg = errors.New("ffmpeg is not installed: install the Debian package ffmpeg (apt-get install ffmpeg)")

// findFFmpeg resolves the ffmpeg program, naming the package to install
// when it is missing.
func findFFmpeg(name string) (string, error) {
	if name == "" {
		name = "ffmpeg"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w (looked for %q: %w)", ErrNoFFmpeg, name, err)
	}
	return p, nil
}

// ffmpegArgs reads url and writes its video as concatenated JPEGs on
// stdout. An MJPEG stream's JPEGs are passed through untouched (no
// decode, no re-encode, and a corrupt frame reaches the runner, which
// reports it); any other codec is decoded and encoded as JPEG. JPEG on the
// pipe rather than raw pixels keeps each frame's size in the frame, so a
// camera changing resolution mid-stream needs no renegotiation.
func ffmpegArgs(url string) []string {
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin",
		"-fflags", "nobuffer", "-flags", "low_delay", "-probesize", "500000", "-analyzeduration", "1000000"}
	codec := []string{"-c:v", "mjpeg", "-q:v", "3", "-fps_mode", "passthrough"}
	if strings.HasPrefix(strings.ToLower(url), "rtsp") {
		args = append(args, "-rtsp_transport", "tcp")
	} else {
		codec = []string{"-c:v", "copy"}
	}
	args = append(args, "-i", url, "-map", "0:v:0", "-an")
	args = append(args, codec...)
	return append(args, "-f", "image2pipe", "pipe:1")
}

// child is a running ffmpeg in its own process group, so stopping it
// leaves nothing behind.
type child struct {
	cmd    *exec.Cmd
	stdout io.ReadCloser
	stderr *tail
}

func startFFmpeg(bin, url string) (*child, error) {
	cmd := exec.Command(bin, ffmpegArgs(url)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c := &child{cmd: cmd, stderr: &tail{}}
	cmd.Stderr = c.stderr
	var err error
	if c.stdout, err = cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	return c, nil
}

// stop ends the child: SIGTERM to its group, SIGKILL after grace, and
// always Wait so no zombie is left.
func (c *child) stop(grace time.Duration) error {
	pgid := c.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	waited := make(chan error, 1)
	go func() { waited <- c.cmd.Wait() }()
	select {
	case err := <-waited:
		return err
	case <-time.After(grace):
		syscall.Kill(-pgid, syscall.SIGKILL)
		return <-waited
	}
}

// kill ends the child's group at once; stop still Waits for it.
func (c *child) kill() { syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL) }

// tail keeps the last lines ffmpeg wrote to stderr: the reason a stream
// failed, for the log and the component status.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-2048:]
	}
	return len(p), nil
}

// Last is ffmpeg's last non-empty line.
func (t *tail) Last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(string(bytes.TrimSpace(t.buf)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
