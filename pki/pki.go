// Package pki is the device certificate authority: it keeps the CA key in
// the server's data directory, signs device certificates from CSRs made on
// the devices (the device key never leaves the device), and issues the
// server certificate devices verify when they connect.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// CA signs device and server certificates.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
	now     func() time.Time
}

// Open loads the CA from dir, creating it on first use (key file 0600).
func Open(dir string, now func() time.Time) (*CA, error) {
	if now == nil {
		now = time.Now
	}
	certPath, keyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	if _, err := os.Stat(certPath); errors.Is(err, os.ErrNotExist) {
		if err := create(dir, certPath, keyPath, now()); err != nil {
			return nil, fmt.Errorf("create device CA: %w", err)
		}
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("device CA: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("device CA key: %w; restore %s from backup (a new CA would orphan every device)", err, keyPath)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("device CA in %s: %w", dir, err)
	}
	return &CA{cert: pair.Leaf, certPEM: certPEM, key: pair.PrivateKey.(crypto.Signer), now: now}, nil
}

func create(dir, certPath, keyPath string, now time.Time) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Vise device CA", Organization: []string{"Vise"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeExcl(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeExcl(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeExcl(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// CertPEM is the CA certificate devices trust.
func (c *CA) CertPEM() []byte { return c.certPEM }

// Fingerprint is the sha256 of the CA certificate, hex. Enrollment tokens
// carry it so a device can check it talks to the right server before it
// trusts anything the server says.
func (c *CA) Fingerprint() string { return Fingerprint(c.cert.Raw) }

// Fingerprint hashes a DER certificate.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Pool holds the CA for verifying device certificates.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// DeviceURI is the identity a device certificate carries.
func DeviceURI(device string) *url.URL {
	return &url.URL{Scheme: "vise", Host: "device", Path: "/" + device}
}

// SignDevice checks a CSR's signature and issues a client certificate for
// device. The name comes from the enrollment, never from the CSR.
func (c *CA) SignDevice(csrPEM []byte, device string, validity time.Duration) (certPEM []byte, serialHex string, err error) {
	block, _ := pem.Decode(csrPEM)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, "", errors.New("the certificate request is not a PEM CERTIFICATE REQUEST")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, "", fmt.Errorf("certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, "", fmt.Errorf("certificate request signature: %w", err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, "", errors.New("device keys must be ECDSA P-256/P-384 or Ed25519")
		}
	case ed25519.PublicKey:
	default:
		return nil, "", errors.New("device keys must be ECDSA P-256/P-384 or Ed25519")
	}
	now := c.now()
	sn := serial()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: device, Organization: []string{"Vise devices"}},
		URIs:         []*url.URL{DeviceURI(device)},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, csr.PublicKey, c.key)
	if err != nil {
		return nil, "", err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), sn.Text(16), nil
}

// ServerCert issues a certificate for the server's device-facing listeners
// (MQTT and HTTPS), valid for the given host names and IP addresses.
func (c *CA) ServerCert(hosts []string) (tls.Certificate, error) {
	now := c.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "Vise server"},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return c.issue(tmpl)
}

// issue makes a key here and signs tmpl for it: the certificate, chained
// to the CA, with its key, ready for a TLS config.
func (c *CA) issue(tmpl *x509.Certificate) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der, c.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// DeviceName returns the device a verified client certificate belongs to.
func DeviceName(cert *x509.Certificate) (string, error) {
	for _, u := range cert.URIs {
		if u.Scheme == "vise" && u.Host == "device" && len(u.Path) > 1 {
			return u.Path[1:], nil
		}
	}
	return "", errors.New("certificate carries no Vise device identity")
}

// Serial is a certificate's serial as stored.
func Serial(cert *x509.Certificate) string { return cert.SerialNumber.Text(16) }

// ServiceURI is the identity of a Vise service (not a device) in a client
// certificate, e.g. the server's own connection to an external broker.
func ServiceURI(name string) *url.URL {
	return &url.URL{Scheme: "vise", Host: "service", Path: "/" + name}
}

// ClientCert issues a client certificate for a Vise service such as the
// server connecting to an external MQTT broker. Its common name is name —
// Mosquitto's use_identity_as_username makes that the user its ACL names —
// and it carries no device identity, so the device API and the embedded
// broker never take it for a device.
func (c *CA) ClientCert(name string, validity time.Duration) (tls.Certificate, error) {
	now := c.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"Vise services"}},
		URIs:         []*url.URL{ServiceURI(name)},
		NotBefore:    now.Add(-5 * time.Minute),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return c.issue(tmpl)
}

// EncodePEM returns a certificate's chain and its private key as PEM, for
// programs outside Vise such as an MQTT broker.
func EncodePEM(cert tls.Certificate) (chainPEM, keyPEM []byte, err error) {
	for _, der := range cert.Certificate {
		chainPEM = append(chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	return chainPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}
