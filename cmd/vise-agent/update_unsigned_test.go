package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vise-edge/vise"
)

// A vise.agent whose release metadata is signed by a key the device's
// trusted root does not list — here the server's targets key swapped for a
// stranger's, as a compromised or misconfigured server would sign — is
// refused before anything is started: the deployment fails with the
// reason and the running agent stays.
func TestSelfUpdateUnsigned(t *testing.T) {
	updateBuilds(t)
	data := t.TempDir()
	addrs := freeAddrs(t, 3)
	s := startServerOn(t, data, addrs[0], addrs[1], addrs[2])
	s.publishAgent("2.0.0", builds.v2, "")
	d := s.startDevice("unsigned")

	stop(t, s.proc)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "release", "keys", "targets.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	s = startServerOn(t, data, addrs[0], addrs[1], addrs[2])

	st := s.outcome(d.name, s.deploy(d.name, "vise.agent@2.0.0"))
	if st.State != vise.DeviceFailed || !strings.Contains(st.Message, "release metadata did not verify") {
		t.Errorf("deployment %s (%q); want FAILED: release metadata did not verify", st.State, st.Message)
	}
	if _, exe := d.waitOneAgent(); exe != agentBin {
		t.Errorf("after the refused update the agent runs %s, want %s", exe, agentBin)
	}
	if _, err := os.Stat(filepath.Join(d.data, "agent", "bin")); err == nil {
		t.Errorf("the unsigned binary was staged in %s", filepath.Join(d.data, "agent", "bin"))
	}
}

// freeAddrs finds n free loopback ports, for a server that must come back
// on the same addresses (its devices keep them).
func freeAddrs(t *testing.T, n int) []string {
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out
}
