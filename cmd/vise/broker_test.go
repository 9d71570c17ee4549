package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/broker/mosquittotest"
)

// The README's external-broker commands, as an operator runs them: issue
// the broker's certificate, run Mosquitto with the documented settings,
// start the server against it, enroll an agent that reports through it.
func TestExternalBrokerCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	mosquittotest.Binary(t)
	data, certs := t.TempDir(), t.TempDir()
	e := &env{t: t, data: data, workdir: t.TempDir()}
	out := e.ok("broker", "cert", "--host", "127.0.0.1", "--host", "localhost", "--out", certs)
	if !strings.Contains(out, filepath.Join(certs, "key.pem")) {
		t.Errorf("broker cert printed %q", out)
	}
	if info, err := os.Stat(filepath.Join(certs, "key.pem")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key.pem: %v, mode %v; want 0600", err, info.Mode())
	}
	caPEM, _ := os.ReadFile(filepath.Join(certs, "ca.pem"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	chain, _ := os.ReadFile(filepath.Join(certs, "cert.pem"))
	block, _ := pem.Decode(chain)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost"}); err != nil {
		t.Errorf("broker certificate does not verify for localhost against ca.pem: %v", err)
	}
	e.fails(2, "--host", "broker", "cert", "--out", certs)
	crlPath := filepath.Join(certs, "crl.pem")
	if info, err := os.Stat(crlPath); err != nil || info.Mode().Perm() != 0o644 || !strings.Contains(out, crlPath) {
		t.Errorf("crl.pem: %v, mode %v; want an initial CRL, 0644, for Mosquitto's crlfile", err, info.Mode())
	}
	if again := e.ok("broker", "cert", "--host", "127.0.0.1", "--out", certs); !strings.Contains(again, "kept "+crlPath) {
		t.Errorf("a second broker cert printed %q; want it to keep the existing crl.pem", again)
	}

	mq := mosquittotest.StartDir(t, certs)
	srv, _ := startServerOn(t, data, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "--mqtt-broker", mq.URL(), "--mqtt-client-id", "vise:server:test",
		"--mqtt-crl", crlPath)
	// The agent enrolls over HTTPS, is told the external broker, and its
	// status reaches the server through Mosquitto (startAgent waits for it).
	cam := srv.startAgent("cam-1", "")
	if got := mqttAddr(t, cam); got != mq.Addr {
		t.Errorf("the agent was told MQTT %s, want the external broker %s", got, mq.Addr)
	}
	if !strings.Contains(mq.Log(), "as cam-1 ") {
		t.Errorf("mosquitto never saw cam-1:\n%s", mq.Log())
	}

	// Without --mqtt-reload-command, revoking says where the CRL went and
	// to reload Mosquitto; -o json carries the same.
	out = srv.ok("device", "revoke", "cam-1")
	for _, want := range []string{"revoked device cam-1", "CRL written to " + crlPath + " (1 revoked certificates)", "reload Mosquitto now"} {
		if !strings.Contains(out, want) {
			t.Errorf("device revoke printed %q; want it to say %q", out, want)
		}
	}
	var rev vise.Revocation
	jsonUnmarshal(t, srv.ok("device", "revoke", "cam-1", "-o", "json"), &rev)
	if rev.Name != "cam-1" || rev.RevokedAt == nil || rev.CRL == nil || rev.CRL.File != crlPath || rev.CRL.Revoked != 1 || rev.CRL.Reloaded {
		t.Errorf("device revoke -o json: %+v, CRL %+v", rev.Device, rev.CRL)
	}
}
