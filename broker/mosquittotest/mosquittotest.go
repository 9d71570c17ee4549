// Package mosquittotest runs a real Mosquitto broker on loopback for tests,
// configured the way the README tells an operator to: mutual TLS with
// certificates from the Vise device CA, checked against its certificate
// revocation list, the certificate's common name as the user name, and an
// ACL that confines each device to its own subtree.
// Tests skip when Debian's mosquitto package is not installed, unless
// VISE_REQUIRE_MOSQUITTO is set (as `make test` does), when they fail.
package mosquittotest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vise-edge/vise/broker"
	"github.com/vise-edge/vise/pki"
)

// ServerUser is the user name (certificate common name) the ACL grants the
// whole vise/ tree.
const ServerUser = broker.ServerUser

// Broker is a running mosquitto process.
type Broker struct {
	Addr string // 127.0.0.1:port
	Dir  string // config, certificates, ACL
	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}
	mu   sync.Mutex
	log  bytes.Buffer
}

// URL is the broker's address as `vise server --mqtt-broker` takes it.
func (b *Broker) URL() string { return "mqtts://" + b.Addr }

// Binary finds mosquitto or skips (fails under VISE_REQUIRE_MOSQUITTO).
func Binary(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"mosquitto", "/usr/sbin/mosquitto"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("VISE_REQUIRE_MOSQUITTO") != "" {
		t.Fatal("mosquitto is required (VISE_REQUIRE_MOSQUITTO is set) but not installed: apt-get install mosquitto (scripts/setup.sh test does)")
	}
	t.Skip("skipping: mosquitto is not installed (apt-get install mosquitto; set VISE_REQUIRE_MOSQUITTO=1 to fail instead)")
	return ""
}

// Start runs mosquitto with a server certificate from ca, stopped at the end
// of the test.
func Start(t testing.TB, ca *pki.CA) *Broker {
	t.Helper()
	dir := t.TempDir()
	if err := writeCerts(dir, ca); err != nil {
		t.Fatal(err)
	}
	return StartDir(t, dir)
}

// StartDir runs mosquitto with the ca.pem, cert.pem, key.pem and crl.pem
// in dir (as 'vise broker cert --out DIR' writes them).
func StartDir(t testing.TB, dir string) *Broker {
	t.Helper()
	bin := Binary(t)
	b := &Broker{t: t, Dir: dir}
	if err := os.WriteFile(filepath.Join(dir, "acl"), []byte(ACL), 0o600); err != nil {
		t.Fatal(err)
	}
	// Mosquitto cannot listen on port 0: pick a free port, release it and
	// hope nobody takes it first; if somebody does, try another.
	var err error
	for range 5 {
		if err = b.start(bin); err == nil {
			t.Cleanup(b.Stop)
			return b
		}
	}
	t.Fatalf("mosquitto did not start: %v", err)
	return nil
}

// Config is the mosquitto.conf the README documents, for port and dir.
func Config(port int, dir, runAs string) string {
	conf := `# Vise devices and servers: mutual TLS with certificates from the Vise CA.
per_listener_settings false
allow_anonymous false
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
log_type information
listener ` + strconv.Itoa(port) + ` 127.0.0.1
cafile ` + filepath.Join(dir, "ca.pem") + `
certfile ` + filepath.Join(dir, "cert.pem") + `
keyfile ` + filepath.Join(dir, "key.pem") + `
crlfile ` + CRLFile(dir) + `
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
acl_file ` + filepath.Join(dir, "acl") + `
`
	if runAs != "" {
		conf += "user " + runAs + "\n"
	}
	return conf
}

// ACL is the ACL file the README documents: the server's user reads and
// writes the whole tree, each device only its own subtree.
const ACL = `user ` + ServerUser + `
topic readwrite vise/#

pattern readwrite vise/devices/%u/#
`

// CRLFile is where the broker started in dir reads its certificate
// revocation list: point `vise server --mqtt-crl` at it.
func CRLFile(dir string) string { return filepath.Join(dir, "crl.pem") }

func writeCerts(dir string, ca *pki.CA) error {
	cert, err := ca.ServerCert([]string{"127.0.0.1", "localhost"})
	if err != nil {
		return err
	}
	chain, key, err := pki.EncodePEM(cert)
	if err != nil {
		return err
	}
	// Mosquitto refuses to start without its crlfile: an empty CRL until
	// a server writes one.
	crl, err := ca.CRL(nil, ca.NextCRLNumber(nil), pki.CRLValidity)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"ca.pem": ca.CertPEM(), "cert.pem": chain, "key.pem": key, "crl.pem": crl} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (b *Broker) start(bin string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// As root, mosquitto drops to the user "mosquitto", which cannot read
	// the test's files: run as whoever runs the test.
	runAs := ""
	if u, err := user.Current(); err == nil && u.Uid == "0" {
		runAs = u.Username
	}
	conf := filepath.Join(b.Dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(Config(port, b.Dir, runAs)), 0o600); err != nil {
		return err
	}
	b.mu.Lock()
	b.log.Reset()
	b.mu.Unlock()
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = (*syncWriter)(b), (*syncWriter)(b)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("mosquitto exited at start: %s", b.Log())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			b.cmd, b.done, b.Addr = cmd, done, addr
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	<-done
	return fmt.Errorf("mosquitto not listening on %s after 10s: %s", addr, b.Log())
}

// Stop ends mosquitto (SIGTERM, then SIGKILL after 5 s) and waits for it.
// Safe to call twice.
func (b *Broker) Stop() {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.done
	}
	b.cmd = nil
	if b.t.Failed() {
		b.t.Logf("mosquitto log:\n%s", b.Log())
	}
}

// Pid is the mosquitto process's id, for a test's reload command
// ("kill -HUP PID" makes it read its crlfile again).
func (b *Broker) Pid() int { return b.cmd.Process.Pid }

// Log is what mosquitto has written so far.
func (b *Broker) Log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.log.String())
}

type syncWriter Broker

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.Write(p)
}
