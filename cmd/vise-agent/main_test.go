package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vise-edge/vise"
)

// These tests run real processes: a `vise server` on loopback and the
// vise-agent binary as a device would, built stripped as `make build` does.

var viseBin, agentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vise-agent-test-")
	if err != nil {
		panic(err)
	}
	viseBin, agentBin = filepath.Join(dir, "vise"), filepath.Join(dir, "vise-agent")
	for bin, pkg := range map[string]string{viseBin: "../vise", agentBin: "."} {
		build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			os.Stderr.Write(out)
			panic(err)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a running `vise server` and what the CLI needs to reach it.
type server struct {
	t                 testing.TB
	data, url, device string
	proc              *exec.Cmd
}

func startServer(t testing.TB) *server {
	t.Helper()
	return startServerOn(t, t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0")
}

// startServerOn starts `vise server` on data with the given API, device
// API and MQTT listen addresses; it is stopped at the end of the test.
func startServerOn(t testing.TB, data, listen, deviceListen, mqttListen string) *server {
	t.Helper()
	cmd := exec.Command(viseBin, "server", "--data", data, "--listen", listen,
		"--device-listen", deviceListen, "--mqtt-listen", mqttListen, "--log-format", "json")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(t, cmd) })
	type listening struct {
		Msg       string
		URL       string `json:"url"`
		DeviceURL string `json:"device_url"`
	}
	urls := make(chan listening, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var l listening
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "vise server listening" {
				urls <- l
			}
		}
	}()
	select {
	case l := <-urls:
		return &server{t: t, data: data, url: l.URL, device: l.DeviceURL, proc: cmd}
	case <-time.After(60 * time.Second):
		t.Fatal("server did not report its address within 60s")
	}
	return nil
}

// stop ends a process with SIGTERM and waits for it.
func stop(t testing.TB, cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Errorf("%s did not stop within 20s of SIGTERM", filepath.Base(cmd.Path))
	}
}

// vise runs the CLI against the server and returns its standard output.
func (s *server) vise(args ...string) (string, error) {
	cmd := exec.Command(viseBin, args...)
	cmd.Env = append(os.Environ(), "VISE_SERVER="+s.url, "VISE_DATA="+s.data, "VISE_TOKEN=")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("vise %s: %w: %s", strings.Join(args, " "), err, errb.String())
	}
	return string(out), nil
}

// enrollToken makes a one-time enrollment token.
func (s *server) enrollToken() string {
	s.t.Helper()
	out, err := s.vise("device", "token", "create", "-o", "json")
	var tok struct{ Token string }
	if err == nil {
		err = json.Unmarshal([]byte(out), &tok)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	return tok.Token
}

// startAgent runs vise-agent with its settings in the environment, as the
// package's unit passes them, and extra environment variables.
func (s *server) startAgent(name string, env ...string) *exec.Cmd {
	s.t.Helper()
	return s.startAgentWith(name, []string{"--reconcile", "1s"}, env...)
}

// startAgentWith is startAgent with the agent's flags.
func (s *server) startAgentWith(name string, args []string, env ...string) *exec.Cmd {
	s.t.Helper()
	cmd := exec.Command(agentBin, args...)
	cmd.Env = append(os.Environ(), "VISE_DEVICE_SERVER="+s.device, "VISE_ENROLL_TOKEN="+s.enrollToken(),
		"VISE_DEVICE_NAME="+name, "VISE_DATA="+filepath.Join(s.t.TempDir(), name))
	cmd.Env = append(cmd.Env, env...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() {
		stop(s.t, cmd)
		if s.t.Failed() {
			s.t.Logf("vise-agent %s log:\n%s", name, logs.String())
		}
	})
	return cmd
}

// reported waits until the device's status, which the agent publishes over
// MQTT, has reached the server: enrolled and connected.
func (s *server) reported(name string) vise.Device {
	s.t.Helper()
	var d vise.Device
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := s.vise("device", "show", name, "-o", "json")
		if err == nil && json.Unmarshal([]byte(out), &d) == nil && len(d.Status) > 0 {
			return d
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("device %s did not report its status over MQTT within 60s (last: %v)", name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestAgentEnrollsAndReports(t *testing.T) {
	s := startServer(t)
	s.startAgent("press-7")
	d := s.reported("press-7")
	if d.EnrolledAt == nil {
		t.Errorf("device press-7 reported but is not enrolled: %+v", d)
	}
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"extra"}, "unknown command"},
		{[]string{"--data", "d", "--log-level", "loud"}, `--log-level "loud": use debug, info, warn or error`},
		{[]string{"--data", "d", "--log-format", "xml"}, `--log-format "xml": use text or json`},
		{[]string{"--reconcile", "often"}, `invalid argument "often" for "--reconcile"`},
		{[]string{}, "no data directory: pass --data DIR"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(agentBin, tt.args...)
			cmd.Dir = t.TempDir()
			cmd.Env = append(os.Environ(), "VISE_DATA=", "VISE_DEVICE_SERVER=", "VISE_ENROLL_TOKEN=")
			out, err := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != 2 {
				t.Fatalf("exit status %d (%v), want 2; output: %s", code, err, out)
			}
			if !strings.Contains(string(out), tt.want) || strings.Count(string(out), "\n") != 1 {
				t.Errorf("output %q: want one line containing %q", out, tt.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(agentBin, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "vise-agent version ") {
		t.Errorf("vise-agent --version: %q, %v", out, err)
	}
}
