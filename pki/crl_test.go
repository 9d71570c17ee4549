package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// The CRL parses, is signed by the CA, lists the revoked device's serial
// with its time, and carries the number and validity asked for.
func TestCRL(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ca, err := Open(t.TempDir(), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	certPEM, serial, err := ca.SignDevice(csr(t, key, "cam-1"), "cam-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, _ := x509.ParseCertificate(block.Bytes)
	revokedAt := now.Add(-time.Minute)

	b, err := ca.CRL([]Revoked{{Serial: serial, RevokedAt: revokedAt}}, big.NewInt(7), 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := ca.ParseCRL(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.cert); err != nil {
		t.Errorf("CRL not signed by the CA: %v", err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(cert.SerialNumber) != 0 ||
		!crl.RevokedCertificateEntries[0].RevocationTime.Equal(revokedAt) {
		t.Errorf("CRL entries %+v; want the device's serial %s revoked at %s", crl.RevokedCertificateEntries, serial, revokedAt)
	}
	if crl.Number.Int64() != 7 || !crl.NextUpdate.Equal(now.Add(30*24*time.Hour)) || crl.ThisUpdate.After(now) {
		t.Errorf("number %v, this update %s, next update %s", crl.Number, crl.ThisUpdate, crl.NextUpdate)
	}

	empty, err := ca.CRL(nil, big.NewInt(1), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if crl, err := ca.ParseCRL(empty); err != nil || len(crl.RevokedCertificateEntries) != 0 {
		t.Errorf("empty CRL: %v, %v", crl, err)
	}
}

func TestCRLBadInput(t *testing.T) {
	ca, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	foreign, _ := other.CRL(nil, big.NewInt(1), time.Hour)
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"serial not hex", func() error { _, err := ca.CRL([]Revoked{{Serial: "xyz"}}, big.NewInt(1), time.Hour); return err }, "not hex"},
		{"no number", func() error { _, err := ca.CRL(nil, nil, time.Hour); return err }, "must be positive"},
		{"not PEM", func() error { _, err := ca.ParseCRL([]byte("junk")); return err }, "not a PEM X509 CRL"},
		{"another CA's", func() error { _, err := ca.ParseCRL(foreign); return err }, "not signed by this CA"},
	} {
		if err := tc.err(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// CRL numbers increase: from the clock, or past the previous CRL's.
func TestNextCRLNumber(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	ca, err := Open(t.TempDir(), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if got := ca.NextCRLNumber(nil); got.Int64() != 1_000_000 {
		t.Errorf("first number %v, want the Unix time 1000000", got)
	}
	ahead, _ := ca.CRL(nil, big.NewInt(2_000_000), time.Hour) // written by a clock ahead of this one
	if got := ca.NextCRLNumber(ahead); got.Int64() != 2_000_001 {
		t.Errorf("after 2000000: %v, want 2000001", got)
	}
	behind, _ := ca.CRL(nil, big.NewInt(5), time.Hour)
	if got := ca.NextCRLNumber(behind); got.Int64() != 1_000_000 {
		t.Errorf("after 5: %v, want the Unix time 1000000", got)
	}
}
