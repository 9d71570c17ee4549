package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vise-edge/vise"
)

// childServer is the `vise server` a fault rehearsal owns, so it can kill
// it: the same data directory and ports on every start, so enrolled
// devices find it again.
type childServer struct {
	bin, data, log       string
	listen, dev, mqtt    string
	url, deviceURL       string
	cmd                  *exec.Cmd
	exited               chan struct{}
	starts, kills, terms int
}

// newChildServer picks three free loopback ports for a server on data.
func newChildServer(bin, data string) (*childServer, error) {
	s := &childServer{bin: bin, data: data, log: filepath.Join(data, "server.log")}
	for _, p := range []*string{&s.listen, &s.dev, &s.mqtt} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port for the rehearsal's server: %w", err)
		}
		*p = l.Addr().String()
		l.Close()
	}
	return s, os.MkdirAll(data, 0o700)
}

// start runs the server and waits until it says it listens.
func (s *childServer) start(ctx context.Context) error {
	logf, err := os.OpenFile(s.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "server", "--data", s.data, "--listen", s.listen, "--device-listen", s.dev,
		"--mqtt-listen", s.mqtt, "--log-format", "json")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logf.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start the rehearsal's server %s: %w", s.bin, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	s.starts++
	up := make(chan [2]string, 1)
	go func() {
		defer logf.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			var line struct {
				Msg       string
				URL       string `json:"url"`
				DeviceURL string `json:"device_url"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "vise server listening" {
				select {
				case up <- [2]string{line.URL, line.DeviceURL}:
				default:
				}
			}
		}
		io.Copy(logf, stderr)
	}()
	go func() { cmd.Wait(); close(s.exited) }()
	select {
	case u := <-up:
		s.url, s.deviceURL = u[0], u[1]
		return nil
	case <-s.exited:
		return vise.Errorf(vise.CodeUnavailable, "the rehearsal's server exited at start; see %s", s.log)
	case <-time.After(time.Minute):
		s.kill()
		return vise.Errorf(vise.CodeUnavailable, "the rehearsal's server did not listen within a minute; see %s", s.log)
	case <-ctx.Done():
		s.kill()
		return ctx.Err()
	}
}

func (s *childServer) pid() int { return s.cmd.Process.Pid }

// kill is kill -9 of the server's process group, waited for.
func (s *childServer) kill() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	s.kills++
}

// stop is a clean stop: SIGTERM, SIGKILL after 30 s.
func (s *childServer) stop() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.kill()
	}
	s.terms++
}
