package agent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/atomicfile"
	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/pki"
)

// identity is what enrollment leaves in <data>/identity: the device key
// (made here, never sent), its certificate, the CA, the broker address and
// the trusted TUF root.
type identity struct {
	Device string `json:"device"`
	Server string `json:"server"`
	MQTT   string `json:"mqtt"`

	cert tls.Certificate
	ca   *x509.CertPool
	root []byte
}

func (a *Agent) identityDir() string { return filepath.Join(a.cfg.DataDir, "identity") }

// loadOrEnroll returns the device identity, enrolling with the token on the
// first start only.
func (a *Agent) loadOrEnroll(ctx context.Context) (*identity, error) {
	id, err := loadIdentity(a.identityDir())
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if a.cfg.Token == "" {
		return nil, vise.Errorf(vise.CodeInvalid, "this device is not enrolled yet: pass --token (from 'vise device token create')")
	}
	return a.enroll(ctx)
}

func loadIdentity(dir string) (*identity, error) {
	b, err := os.ReadFile(filepath.Join(dir, "identity.json"))
	if err != nil {
		return nil, err
	}
	var id identity
	if err := json.Unmarshal(b, &id); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w; remove %s and enroll again with a new token", filepath.Join(dir, "identity.json"), err, dir)
	}
	if id.cert, err = tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")); err != nil {
		return nil, fmt.Errorf("device certificate: %w", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	id.ca = x509.NewCertPool()
	if !id.ca.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s holds no certificate", filepath.Join(dir, "ca.pem"))
	}
	if id.root, err = os.ReadFile(filepath.Join(dir, "root.json")); err != nil {
		return nil, err
	}
	return &id, nil
}

// enroll makes a key, sends a CSR with the one-time token, and keeps what
// comes back. The server's certificate must chain to a CA whose fingerprint
// the token pins: a device never trusts a server it cannot authenticate.
func (a *Agent) enroll(ctx context.Context) (*identity, error) {
	_, pin, err := deviceapi.SplitToken(a.cfg.Token)
	if err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "--token: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: a.cfg.Name}}, key)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(deviceapi.EnrollRequest{Token: a.cfg.Token, Name: a.cfg.Name,
		CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))})
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // replaced by the pinned check below, the CA is not known yet
		VerifyConnection:   pinnedCA(pin),
	}}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(a.cfg.Server, "/")+deviceapi.EnrollPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	defer hc.CloseIdleConnections() // enrollment is once: keep no connection
	resp, err := hc.Do(req)
	if err != nil {
		return nil, vise.Errorf(vise.CodeUnavailable, "enroll at %s: %w", a.cfg.Server, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, apiError(resp, "enroll")
	}
	var er deviceapi.EnrollResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&er); err != nil {
		return nil, fmt.Errorf("enroll: unreadable answer: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	id := identity{Device: er.Device, Server: a.cfg.Server, MQTT: er.MQTT}
	files := map[string][]byte{
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		"cert.pem": []byte(er.Certificate), "ca.pem": []byte(er.CA), "root.json": er.TrustedRoot,
	}
	idJSON, _ := json.MarshalIndent(id, "", "  ")
	if err := writeFiles(a.identityDir(), files, "identity.json", idJSON); err != nil {
		return nil, err
	}
	a.log.Info("enrolled", "device", er.Device, "server", a.cfg.Server)
	return loadIdentity(a.identityDir())
}

// pinnedCA accepts a server whose chain is valid under the CA it sends and
// whose CA certificate's fingerprint starts with pin.
func pinnedCA(pin string) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) < 2 {
			return errors.New("server sent no CA certificate to check against the token")
		}
		ca := cs.PeerCertificates[len(cs.PeerCertificates)-1]
		if !strings.HasPrefix(pki.Fingerprint(ca.Raw), pin) {
			return errors.New("the server's CA does not match the enrollment token; is this the right server?")
		}
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: cs.ServerName})
		return err
	}
}

// writeFiles writes the identity atomically: everything into a temporary
// directory, identity.json last, then one rename. A crash leaves either no
// identity or a complete one.
func writeFiles(dir string, files map[string][]byte, last string, lastData []byte) error {
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	files[last] = lastData
	for name, b := range files {
		if err := writeSync(filepath.Join(tmp, name), b, 0o600); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(dir))
}

func writeSync(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
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

// apiError reads a server error body into a *vise.Error.
func apiError(resp *http.Response, op string) error {
	var body deviceapi.ErrorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &body) != nil || body.Error.Code == "" {
		return vise.Errorf(vise.CodeFromHTTPStatus(resp.StatusCode), "%s: server answered %s", op, resp.Status)
	}
	return &vise.Error{Code: body.Error.Code, Message: op + ": " + body.Error.Message}
}
