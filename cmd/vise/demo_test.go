package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The README's main command runs `vise demo`: server, sample model, two
// devices that enroll, the edge-deploy pipeline taking the model and
// vise-infer to them until they are verified, and a clean stop on Ctrl-C.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo; skipped with -short")
	}
	lib := ortLib(t)
	// Like `make demo`: a data directory relative to where it runs.
	dir := t.TempDir()
	data := filepath.Join(dir, "demo-data")
	images, _ := filepath.Abs(filepath.Join("..", "..", "samples", "images"))
	cmd := exec.Command(viseBin, "demo", "--data", "demo-data", "--listen", "127.0.0.1:0", "--device-listen", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0",
		"--camera-listen", "127.0.0.1:0", "--plc-listen", "127.0.0.1:0", "--infer", buildInfer(t), "--ort-lib", lib, "--model", sample(t, "metal-tags.onnx"), "--images", images)
	cmd.Dir = dir
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out []string
	deadline := time.After(90 * time.Second)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo exited early:\n%s", strings.Join(out, "\n"))
			}
			out = append(out, l)
			done = strings.Contains(l, "edge-deploy SUCCEEDED; deployment") && strings.Contains(l, "SUCCEEDED; demo-cam-1 RUNNING demo-cam-2 RUNNING; results")
		case <-deadline:
			t.Fatalf("the demo's edge-deploy did not succeed on both devices within 90s:\n%s", strings.Join(out, "\n"))
		}
	}
	cmd.Process.Signal(os.Interrupt)
	errc := make(chan error, 1)
	go func() {
		for range lines {
		}
		errc <- cmd.Wait()
	}()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("demo did not exit cleanly on Ctrl-C: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("demo did not stop within 30s of Ctrl-C")
	}
	if _, err := os.Stat(filepath.Join(data, "agents", "demo-cam-2", "current")); err != nil {
		t.Errorf("demo-cam-2 has no committed generation: %v", err)
	}
}
