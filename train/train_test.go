package train

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vise-edge/vise"
)

var ctx = context.Background()

// requireTrainer skips (or, in make test, fails) when Debian's Python lacks
// the trainer's modules.
func requireTrainer(t *testing.T) {
	t.Helper()
	if err := Check(ctx, Config{Script: "train.py"}, Modules); err != nil {
		if os.Getenv("VISE_REQUIRE_TRAINER") != "" {
			t.Fatalf("VISE_REQUIRE_TRAINER is set: %v", err)
		}
		t.Skipf("the trainer cannot run here (scripts/setup.sh test installs it): %v", err)
	}
}

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// A Python without Debian's packages on its path (python3 -S leaves out
// dist-packages, as a fresh machine lacks them) is refused before any work
// with the packages to install; Debian's own Python passes.
func TestCheckNamesDebianPackages(t *testing.T) {
	bare := script(t, "#!/bin/sh\nexec /usr/bin/python3 -S \"$@\"\n")
	err := Check(ctx, Config{Python: bare, Script: "train.py"}, Modules)
	for _, want := range []string{"python3-torch", "python3-onnx", "apt-get install --no-install-recommends"} {
		if vise.ErrorCode(err) != vise.CodeInvalid || err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Check with a bare Python: %v; want an invalid error naming %q", err, want)
		}
	}
	err = Check(ctx, Config{Script: "no-such/train.py"}, Modules)
	if err == nil || !strings.Contains(err.Error(), "trainer script not found") {
		t.Errorf("missing script: %v", err)
	}
	err = Check(ctx, Config{Python: "/nonexistent/python3", Script: "train.py"}, Modules)
	if err == nil || !strings.Contains(err.Error(), "cannot run Python") {
		t.Errorf("missing Python: %v", err)
	}
	requireTrainer(t)
}

// A trainer whose Python lost a module since the check names its package.
func TestRunNamesMissingModule(t *testing.T) {
	s := script(t, "echo \"ModuleNotFoundError: No module named 'onnx'\" >&2; exit 1\n")
	_, err := Run(ctx, Config{Python: "/bin/sh", Script: s}, Options{Epochs: 1}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "apt-get install --no-install-recommends python3-onnx") {
		t.Fatalf("got %v, want python3-onnx named", err)
	}
}

// A failing trainer's error carries its last TailLines lines.
func TestRunFailureCarriesTail(t *testing.T) {
	s := script(t, "for i in $(seq 1 40); do echo line-$i; done; echo 'ValueError: bad label' >&2; exit 3\n")
	var seen int
	_, err := Run(ctx, Config{Python: "/bin/sh", Script: s}, Options{Dataset: "d", Out: "o", Epochs: 1}, func(string) { seen++ }, nil)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "ValueError: bad label") ||
		!strings.Contains(err.Error(), "line-40") || !strings.Contains(err.Error(), "line-27\n") || strings.Contains(err.Error(), "line-26\n") {
		t.Fatalf("got %v; want the last %d lines", err, TailLines)
	}
	if seen != 41 {
		t.Errorf("onLine saw %d lines, want 41", seen)
	}
}

// Stopping a run stops its whole process group, SIGKILL for a child that
// ignores SIGTERM, and leaves no process behind.
func TestRunStopsProcessGroup(t *testing.T) {
	pids := filepath.Join(t.TempDir(), "pids")
	s := script(t, fmt.Sprintf("trap '' TERM\nsleep 300 &\necho $$ $! > %s\necho started\nwait\n", pids))
	c, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := Run(c, Config{Python: "/bin/sh", Script: s, Grace: 100 * time.Millisecond}, Options{Epochs: 1}, func(l string) {
			if l == "started" {
				cancel()
			}
		}, nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "stopped") {
			t.Fatalf("got %v, want stopped", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of the cancel")
	}
	b, _ := os.ReadFile(pids)
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		for deadline := time.Now().Add(10 * time.Second); alive(pid); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d outlived the stop", pid)
			}
		}
	}
	if len(strings.Fields(string(b))) != 2 {
		t.Fatalf("pids %q", b)
	}
}

// alive reports whether pid runs (a zombie awaiting its reaper does not).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(b), ") Z ")
}

// A benchmark dataset must not have classes the model does not detect.
func TestCoversClasses(t *testing.T) {
	model := filepath.Join("..", "samples", "models", "metal-tags.onnx") // one class: scratch
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"no data.yaml", "", ""},
		{"the model's class", "names:\n  0: scratch\n", ""},
		{"an extra class", "names:\n  0: scratch\n  1: dent\n", "1: dent"},
		{"another class", "names:\n  0: dent\n", "0: dent"},
		{"no names", "path: x\n", "data.yaml needs names"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.Mkdir(filepath.Join(dir, "images"), 0o755)
			if tc.yaml != "" {
				os.WriteFile(filepath.Join(dir, "data.yaml"), []byte(tc.yaml), 0o644)
			}
			err := CoversClasses(model, dir)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if vise.ErrorCode(err) != vise.CodeInvalid || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an invalid error with %q", err, tc.want)
			}
		})
	}
	if err := CoversClasses(model, t.TempDir()); err == nil || !strings.Contains(err.Error(), "no images/ folder") {
		t.Errorf("not a dataset: %v", err)
	}
}
