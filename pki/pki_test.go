package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func csr(t *testing.T, key any, cn string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestSignDevice(t *testing.T) {
	dir := t.TempDir()
	ca, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// The CSR asks to be cam-2; the enrollment says cam-1: cam-1 it is.
	certPEM, serial, err := ca.SignDevice(csr(t, key, "cam-2"), "cam-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, _ := x509.ParseCertificate(block.Bytes)
	if name, err := DeviceName(cert); err != nil || name != "cam-1" || Serial(cert) != serial {
		t.Errorf("identity %q (%v), serial %s/%s", name, err, Serial(cert), serial)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("device certificate does not verify against the CA: %v", err)
	}
	// Reopening keeps the same CA.
	again, err := Open(dir, nil)
	if err != nil || again.Fingerprint() != ca.Fingerprint() {
		t.Errorf("reopened CA differs: %v", err)
	}
	info, _ := os.Stat(filepath.Join(dir, "ca.key"))
	if info.Mode().Perm() != 0o600 {
		t.Errorf("CA key mode %v, want 0600", info.Mode().Perm())
	}
}

func TestSignDeviceRefuses(t *testing.T) {
	ca, _ := Open(t.TempDir(), nil)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	good, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tampered := csr(t, good, "x")
	block, _ := pem.Decode(tampered)
	block.Bytes[len(block.Bytes)-5] ^= 0xff // break the signature
	tests := []struct {
		name string
		csr  []byte
		want string
	}{
		{"not PEM", []byte("hello"), "not a PEM CERTIFICATE REQUEST"},
		{"RSA key", csr(t, rsaKey, "x"), "ECDSA P-256/P-384 or Ed25519"},
		{"bad signature", pem.EncodeToMemory(block), "certificate request"},
	}
	for _, tt := range tests {
		if _, _, err := ca.SignDevice(tt.csr, "cam-1", time.Hour); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestServerCert(t *testing.T) {
	ca, _ := Open(t.TempDir(), nil)
	c, err := ca.ServerCert([]string{"127.0.0.1", "vise.plant.local"})
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "vise.plant.local"} {
		if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: host}); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}
	if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "evil.example"}); err == nil {
		t.Error("server certificate valid for a host it was not made for")
	}
}

// An external broker (Mosquitto with use_identity_as_username) knows a
// client by its certificate's common name: a device's must be its name,
// and the server's must be a name no device can have.
func TestCommonNamesForExternalBroker(t *testing.T) {
	ca, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	certPEM, _, err := ca.SignDevice(csr(t, key, "something-else"), "cam-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	dev, _ := x509.ParseCertificate(block.Bytes)
	if dev.Subject.CommonName != "cam-1" {
		t.Errorf("device certificate CN = %q, want the device name", dev.Subject.CommonName)
	}
	svc, err := ca.ClientCert("vise:server", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Leaf.Subject.CommonName != "vise:server" {
		t.Errorf("service certificate CN = %q", svc.Leaf.Subject.CommonName)
	}
	if name, err := DeviceName(svc.Leaf); err == nil {
		t.Errorf("service certificate passes as device %q", name)
	}
	if _, err := svc.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("service certificate does not verify as a client: %v", err)
	}
	chain, keyPEM, err := EncodePEM(svc)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(chain), "BEGIN CERTIFICATE") != 2 || !strings.Contains(string(keyPEM), "PRIVATE KEY") {
		t.Errorf("PEM chain/key malformed:\n%s", chain)
	}
}
