package agent

import (
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// A new binary that keeps dying after the flip (a crash loop under the
// service's Restart=always) is flipped back by the launcher on its
// (maxBoots+1)th start; before that, each start is counted and the new
// binary is what runs.
func TestLaunchBootGuard(t *testing.T) {
	data := t.TempDir()
	sha := strings.Repeat("a", 64)
	bin := stagedAgent(data, sha)
	os.MkdirAll(filepath.Dir(bin), 0o700)
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := flipAgentLink(data, filepath.Join("bin", sha)); err != nil {
		t.Fatal(err)
	}
	saveUpdateState(data, &updateState{Deployment: "d1", Phase: phaseCommitted, To: sha})
	log := slog.New(slog.DiscardHandler)
	for boot := 1; boot <= maxBoots; boot++ {
		got, err := Launch(data, log)
		if err != nil || got != bin {
			t.Fatalf("start %d: Launch = %q, %v; want %s", boot, got, err, bin)
		}
		if st, _ := loadUpdateState(data); st.Boots != boot {
			t.Fatalf("start %d: boots %d", boot, st.Boots)
		}
	}
	got, err := Launch(data, log)
	if err != nil || got != "" {
		t.Fatalf("start %d: Launch = %q, %v; want \"\" (the packaged binary)", maxBoots+1, got, err)
	}
	if _, err := os.Lstat(currentAgentLink(data)); !os.IsNotExist(err) {
		t.Errorf("agent/current still there after the rollback: %v", err)
	}
	st, _ := loadUpdateState(data)
	if st.Phase != phaseRolledBack || !strings.Contains(st.Reason, "rolled back") {
		t.Errorf("state after the rollback: %+v", st)
	}
}

// agent/current naming a missing or non-executable file falls back to the
// packaged binary.
func TestLaunchBrokenLink(t *testing.T) {
	data := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	if got, err := Launch(data, log); got != "" || err != nil {
		t.Errorf("no link: Launch = %q, %v", got, err)
	}
	flipAgentLink(data, "bin/missing")
	if got, err := Launch(data, log); got != "" || err != nil {
		t.Errorf("dangling link: Launch = %q, %v", got, err)
	}
}

func TestCheckArch(t *testing.T) {
	self, _ := os.Executable()
	if err := checkArch(self); err != nil {
		t.Errorf("this test binary: %v", err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755)
	if err := checkArch(script); err == nil || !strings.Contains(err.Error(), "not an ELF executable") {
		t.Errorf("a script: %v", err)
	}
	other, name := uint16(183), "arm64"
	if runtime.GOARCH == "arm64" {
		other, name = 62, "amd64"
	}
	hdr := make([]byte, 64)
	copy(hdr, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(hdr[18:], other)
	foreign := filepath.Join(dir, "foreign")
	os.WriteFile(foreign, hdr, 0o755)
	if err := checkArch(foreign); err == nil || !strings.Contains(err.Error(), "built for "+name) {
		t.Errorf("a %s binary: %v", name, err)
	}
}
