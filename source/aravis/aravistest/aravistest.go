// Package aravistest runs Aravis's simulated GigE Vision camera
// (arv-fake-gv-camera-0.8, Debian aravis-tools) on 127.0.0.1 for tests.
package aravistest

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// FakeCamera starts the simulated camera, Aravis-Fake-GV01 at 127.0.0.1,
// for the rest of the test. GVCP listens on a fixed port, so tests in
// different packages (make test runs two at once) take turns through a
// lock file. The camera needs a moment before it answers; Aravis sources
// retry until it does.
func FakeCamera(t *testing.T) {
	t.Helper()
	bin, err := exec.LookPath("arv-fake-gv-camera-0.8")
	if err != nil {
		if os.Getenv("VISE_REQUIRE_CAMERA") != "" {
			t.Fatal("VISE_REQUIRE_CAMERA is set but arv-fake-gv-camera-0.8 (Debian aravis-tools) is missing")
		}
		t.Skip("arv-fake-gv-camera-0.8 is missing (Debian aravis-tools; scripts/setup.sh test installs it)")
	}
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "vise-aravis-fake-camera.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-i", "127.0.0.1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		lock.Close() // releases the lock
	})
}
