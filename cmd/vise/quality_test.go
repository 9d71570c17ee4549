package main

import (
	"strings"
	"testing"
)

// vise device quality shows the monitor's settings for a device and
// refuses a bad look-back; vise server refuses a bad margin naming it.
func TestCLIDeviceQuality(t *testing.T) {
	e, _ := startServerOn(t, t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "--quality-window", "30m", "--quality-step", "1m")
	e.ok("device", "add", "cam-q")
	if out := e.ok("device", "quality", "cam-q"); !strings.Contains(out, "cam-q") || !strings.Contains(out, "30m0s, every 1m0s") {
		t.Errorf("device quality:\n%s", out)
	}
	e.fails(2, "--since -1h0m0s: give a positive duration", "device", "quality", "cam-q", "--since", "-1h")
	e.fails(3, "not found", "device", "quality", "nope")
	_, errOut, code := e.vise("server", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--quality-margin", "defect=0.1")
	if code == 0 || !strings.Contains(errOut, `--quality-margin: quality margin "defect=0.1": unknown measure "defect"`) {
		t.Errorf("server with a bad margin: exit %d, %q", code, errOut)
	}
}
