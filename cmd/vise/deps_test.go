package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeps keeps the vise binary pure Go, in the spirit of Tailscale's deps
// tests: it must build with CGO_ENABLED=0 (it runs on any amd64 or arm64
// edge box without a C toolchain or libraries), and it must not pull in the
// inference runtime or a cgo SQLite driver by accident.
func TestDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	out := filepath.Join(t.TempDir(), "vise")
	build := exec.Command(goTool, "build", "-o", out, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	b, err := build.CombinedOutput()
	if err != nil {
		t.Fatalf("CGO_ENABLED=0 go build ./cmd/vise failed: %v\n%s", err, b)
	}

	list := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}} {{if .CgoFiles}}CGO{{end}}", ".")
	list.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local")
	b, err = list.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	forbidden := map[string]string{
		"github.com/yalue/onnxruntime_go": "inference belongs in cmd/vise-infer, the only cgo binary",
		"github.com/mattn/go-sqlite3":     "cgo SQLite; Vise uses modernc.org/sqlite",
		"C":                               "cgo",
	}
	var pkgs int
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		path, flag, _ := strings.Cut(line, " ")
		pkgs++
		for bad, why := range forbidden {
			if path == bad || strings.HasPrefix(path, bad+"/") {
				t.Errorf("vise depends on %s: %s", path, why)
			}
		}
		if flag == "CGO" {
			t.Errorf("vise depends on %s, which has cgo files used with CGO_ENABLED=0", path)
		}
	}
	if pkgs < 50 {
		t.Errorf("go list found only %d packages; the test is not looking at the real binary", pkgs)
	}
}
