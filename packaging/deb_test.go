package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgentPackage builds the vise-agent package from a real vise-agent
// binary, reads it back with dpkg-deb, unpacks it into a scratch root with
// dpkg --root and checks its unit with systemd-analyze verify. The
// maintainer scripts are not run there: adduser would need a whole system
// in the scratch root (they are checked with sh -n).
func TestAgentPackage(t *testing.T) {
	bin := t.TempDir()
	gobuild := exec.Command("go", "-C", "..", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(bin, "vise-agent"), "./cmd/vise-agent")
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("building vise-agent: %v\n%s", err, out)
	}
	deb, err := build(specs[1], "amd64", "1.2.0-3-gabcdef", bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	info := run(t, "dpkg-deb", "-I", deb)
	for _, want := range []string{"Package: vise-agent", "Version: 1.2.0+3+gabcdef", "Architecture: amd64", "Depends: adduser, systemd", "postinst", "prerm", "postrm"} {
		if !strings.Contains(info, want) {
			t.Errorf("dpkg-deb -I: no %q in\n%s", want, info)
		}
	}
	if got := run(t, "dpkg-deb", "-f", deb, "Package"); got != "vise-agent\n" {
		t.Errorf("Package field %q", got)
	}
	contents := run(t, "dpkg-deb", "-c", deb)
	for _, want := range []string{"-rwxr-xr-x root/root", "./usr/bin/vise-agent", "-rw-r----- root/root", "./etc/vise/agent.env", "./lib/systemd/system/vise-agent.service"} {
		if !strings.Contains(contents, want) {
			t.Errorf("dpkg-deb -c: no %q in\n%s", want, contents)
		}
	}

	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "var/lib/dpkg/updates"), 0o755)
	os.MkdirAll(filepath.Join(root, "var/lib/dpkg/info"), 0o755)
	os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644)
	// --force-depends: the scratch root has no adduser or systemd packages.
	run(t, "dpkg", "--root="+root, "--force-depends", "--log=/dev/null", "--unpack", deb)
	conffiles, _ := os.ReadFile(filepath.Join(root, "var/lib/dpkg/info/vise-agent.conffiles"))
	if strings.TrimSpace(string(conffiles)) != "/etc/vise/agent.env" {
		t.Errorf("conffiles %q, want /etc/vise/agent.env (kept on upgrade)", conffiles)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/bin/vise-agent")); err != nil {
		t.Errorf("binary not installed: %v", err)
	}
	// --recursive-errors=no: the scratch root holds no systemd targets
	// (network-online.target, multi-user.target) to check in turn.
	if out := run(t, "systemd-analyze", "verify", "--root="+root, "--recursive-errors=no", "--man=no", "/lib/systemd/system/vise-agent.service"); out != "" {
		t.Errorf("systemd-analyze verify: %s", out)
	}
	unit, _ := os.ReadFile(filepath.Join(root, "lib/systemd/system/vise-agent.service"))
	for _, want := range []string{"User=vise-agent", "Restart=always", "StateDirectory=vise-agent", "ExecStart=/usr/bin/vise-agent --data ${STATE_DIRECTORY}",
		"EnvironmentFile=-/etc/vise/agent.env", "ProtectSystem=strict", "NoNewPrivileges=yes", "ProtectHome=yes", "PrivateTmp=yes"} {
		if !strings.Contains("\n"+string(unit), "\n"+want) {
			t.Errorf("unit has no line %q", want)
		}
	}
	scripts := t.TempDir()
	run(t, "dpkg-deb", "-e", deb, scripts)
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		run(t, "sh", "-n", filepath.Join(scripts, s))
		b, _ := os.ReadFile(filepath.Join(scripts, s))
		if strings.Contains(string(b), "@") {
			t.Errorf("%s has an unfilled placeholder:\n%s", s, b)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(scripts, "postinst")); !strings.Contains(string(b), `user=vise-agent`) || !strings.Contains(string(b), "adduser --system") ||
		!strings.Contains(string(b), "rm -f /var/lib/vise-agent/agent/current") {
		t.Errorf("postinst does not create the vise-agent user or does not reset a self-updated agent to the packaged one:\n%s", b)
	}
}

func TestBadInput(t *testing.T) {
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "vise-agent"), []byte("#!/bin/sh\n"), 0o755)
	tests := []struct {
		name, arch, bin, want string
	}{
		{"unknown architecture", "riscv64", bin, `architecture "riscv64": use amd64 or arm64`},
		{"no binary", "amd64", t.TempDir(), "vise-agent: stat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(specs[1], tt.arch, "1.0.0", tt.bin, t.TempDir())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if err := packageAll([]string{"-arch", "amd64"}); err == nil || !strings.Contains(err.Error(), "-bin and -version are required") {
		t.Errorf("no -bin: got %v", err)
	}
}

// run runs a command that must succeed and returns its combined output.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
