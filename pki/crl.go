package pki

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// CRLValidity is how long a CRL written for a broker lasts. OpenSSL (so
// Mosquitto) refuses every client certificate once the CRL it loaded has
// lapsed, so it is long, and the server rewrites the file daily.
const CRLValidity = 365 * 24 * time.Hour

// NextCRLNumber is the number for a CRL that replaces previous (a PEM CRL
// of this CA, or nil): above previous's, and otherwise the current Unix
// time, so numbers keep increasing across restarts and replicas.
func (c *CA) NextCRLNumber(previous []byte) *big.Int {
	n := big.NewInt(c.now().Unix())
	if prev, err := c.ParseCRL(previous); err == nil && prev.Number != nil && prev.Number.Cmp(n) >= 0 {
		n.Add(prev.Number, big.NewInt(1))
	}
	return n
}

// Revoked is a certificate the CA revoked.
type Revoked struct {
	Serial    string // hex, as Serial gives it
	RevokedAt time.Time
}

// CRL makes a certificate revocation list (PEM "X509 CRL") signed by the
// CA, listing revoked, with CRL number number and valid from now for
// validity. An empty list is a valid CRL: a broker configured to check
// one admits every unrevoked certificate.
func (c *CA) CRL(revoked []Revoked, number *big.Int, validity time.Duration) ([]byte, error) {
	if number == nil || number.Sign() <= 0 {
		return nil, errors.New("make CRL: the CRL number must be positive")
	}
	now := c.now()
	tmpl := &x509.RevocationList{
		Number: number,
		// Backdated like certificates: OpenSSL refuses a CRL from the
		// future, and the broker's clock may lag this one.
		ThisUpdate: now.Add(-5 * time.Minute),
		NextUpdate: now.Add(validity),
	}
	for _, r := range revoked {
		sn, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			return nil, fmt.Errorf("make CRL: revoked serial %q is not hex", r.Serial)
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: sn, RevocationTime: r.RevokedAt})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, c.cert, c.key)
	if err != nil {
		return nil, fmt.Errorf("make CRL: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), nil
}

// ParseCRL reads a PEM CRL and checks that this CA signed it.
func (c *CA) ParseCRL(pemBytes []byte) (*x509.RevocationList, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "X509 CRL" {
		return nil, errors.New("parse CRL: not a PEM X509 CRL")
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse CRL: %w", err)
	}
	if err := crl.CheckSignatureFrom(c.cert); err != nil {
		return nil, fmt.Errorf("parse CRL: not signed by this CA: %w", err)
	}
	return crl, nil
}
