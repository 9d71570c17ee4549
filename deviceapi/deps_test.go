package deviceapi_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The device contract is a leaf: the standard library only, so that
// every side can import it without pulling anything else along.
func TestStdlibOnly(t *testing.T) {
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/vise-edge/vise/deviceapi" {
			t.Errorf("deviceapi imports %s; it must stay standard library only", p)
		}
	}
}
