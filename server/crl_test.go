package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/broker/mosquittotest"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/internal/logbuf"
	"github.com/vise-edge/vise/pki"
	"github.com/vise-edge/vise/server"
	"github.com/vise-edge/vise/store/pgtest"
)

// With --mqtt-crl and a reload command, revoking a device writes a CRL
// that the real Mosquitto, reloaded by the command, checks: the revoked
// device's new TLS handshakes fail, another device still connects.
// (Without the CRL, or without the reload, Mosquitto admits cam-1.)
func TestExternalBrokerCRLRevocation(t *testing.T) {
	dir, mq := withMosquitto(t)
	crlPath := mosquittotest.CRLFile(mq.Dir)
	s, c := startExternal(t, server.Config{DataDir: dir, MQTTBroker: mq.URL(), MQTTClientID: "vise:server:a",
		MQTTCRL: crlPath, MQTTReloadCommand: fmt.Sprintf("kill -HUP %d", mq.Pid())})
	if info, err := os.Stat(crlPath); err != nil || info.Mode().Perm() != 0o644 {
		t.Fatalf("CRL at start: %v, mode %v; want it written, mode 0644 (the broker runs as another user)", err, info.Mode())
	}
	cam1Dir, cam2Dir := enrollOnly(t, s, c, "cam-1"), enrollOnly(t, s, c, "cam-2")
	cam1, err := dialDevice(cam1Dir, mq.Addr, "cam-1", 0)
	if err != nil {
		t.Fatalf("cam-1 before its revocation: %v", err)
	}
	cam1.Disconnect(&paho.Disconnect{})

	rev, err := c.RevokeDevice(ctx, "cam-1")
	if err != nil {
		t.Fatal(err)
	}
	want := &vise.CRLUpdate{File: crlPath, Revoked: 1, ReloadCommand: fmt.Sprintf("kill -HUP %d", mq.Pid()), Reloaded: true}
	if rev.CRL == nil || *rev.CRL != *want || rev.RevokedAt == nil {
		t.Fatalf("revoke answered %+v with CRL %+v; want the device revoked and CRL %+v", rev.Device, rev.CRL, want)
	}
	if got := crlSerials(t, dir, crlPath); len(got) != 1 || got[0] != deviceSerial(t, cam1Dir) {
		t.Errorf("CRL lists %v; want cam-1's serial %s", got, deviceSerial(t, cam1Dir))
	}

	// Mosquitto reloads on the SIGHUP the command sent, in its own time.
	poll(t, "Mosquitto to refuse cam-1", 10*time.Second, func() bool {
		pc, err := dialDevice(cam1Dir, mq.Addr, "cam-1", 0)
		if err == nil {
			pc.Disconnect(&paho.Disconnect{})
		}
		return err != nil
	})
	// With TLS 1.2 the refusal is the handshake's, and says why.
	if _, err := dialDevice(cam1Dir, mq.Addr, "cam-1", tls.VersionTLS12); err == nil || !strings.Contains(err.Error(), "TLS: remote error: tls: revoked certificate") {
		t.Errorf("cam-1's TLS 1.2 handshake after its revocation: %v; want it refused as revoked", err)
	}
	if pc, err := dialDevice(cam2Dir, mq.Addr, "cam-2", 0); err != nil {
		t.Errorf("cam-2, not revoked, after the reload: %v", err)
	} else {
		pc.Disconnect(&paho.Disconnect{})
	}
	if err := s.BrokerReady(); err != nil {
		t.Errorf("the server's own connection after the reload: %v", err)
	}
}

// A revoke through a replica without --mqtt-crl reaches the CRL that
// another replica, on Mosquitto's machine, keeps: it checks the database.
func TestExternalBrokerCRLOtherReplica(t *testing.T) {
	dirA, mq := withMosquitto(t)
	db := pgtest.NewDatabase(t)
	a, c := startExternal(t, server.Config{DataDir: dirA, DB: db, MQTTBroker: mq.URL(), MQTTClientID: "vise:server:a",
		MQTTCRL: mosquittotest.CRLFile(mq.Dir), MQTTReloadCommand: fmt.Sprintf("kill -HUP %d", mq.Pid()), MQTTCRLCheck: 50 * time.Millisecond})
	dirB := t.TempDir()
	for _, sub := range []string{"pki", "release"} {
		if err := os.CopyFS(filepath.Join(dirB, sub), os.DirFS(filepath.Join(dirA, sub))); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := startExternal(t, server.Config{DataDir: dirB, DB: db, MQTTBroker: mq.URL(), MQTTClientID: "vise:server:b"})
	cam1Dir := enrollOnly(t, a, c, "cam-1")

	rev, err := client.New(b.URL(), a.AdminToken()).RevokeDevice(ctx, "cam-1")
	if err != nil || rev.CRL != nil {
		t.Fatalf("revoke through replica b: %v, CRL %+v; want revoked, no CRL of b's own", err, rev.CRL)
	}
	serial := deviceSerial(t, cam1Dir)
	poll(t, "replica a's CRL to list cam-1", 10*time.Second, func() bool {
		got := crlSerials(t, dirA, mosquittotest.CRLFile(mq.Dir))
		return len(got) == 1 && got[0] == serial
	})
	poll(t, "Mosquitto, reloaded by replica a, to refuse cam-1", 10*time.Second, func() bool {
		pc, err := dialDevice(cam1Dir, mq.Addr, "cam-1", 0)
		if err == nil {
			pc.Disconnect(&paho.Disconnect{})
		}
		return err != nil
	})
}

// A reload command that fails is logged with its output; the revoke
// succeeds and the CRL is written all the same.
func TestExternalBrokerCRLReloadFails(t *testing.T) {
	dir, mq := withMosquitto(t)
	crlPath := mosquittotest.CRLFile(mq.Dir)
	logs := &logbuf.Buffer{}
	missing := filepath.Join(t.TempDir(), "no-such-file")
	s, c := startExternal(t, server.Config{DataDir: dir, MQTTBroker: mq.URL(), MQTTClientID: "vise:server:a",
		MQTTCRL: crlPath, MQTTReloadCommand: "ls " + missing, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	cam1Dir := enrollOnly(t, s, c, "cam-1")

	rev, err := c.RevokeDevice(ctx, "cam-1")
	if err != nil {
		t.Fatalf("revoke with a failing reload command: %v; want it to succeed", err)
	}
	if rev.CRL == nil || rev.CRL.Reloaded || rev.CRL.Error != "" || !strings.Contains(rev.CRL.ReloadOutput, "No such file") ||
		!strings.Contains(rev.CRL.Next, "reload Mosquitto now") {
		t.Errorf("CRL update %+v; want written, not reloaded, with the command's output and what to do", rev.CRL)
	}
	if got := crlSerials(t, dir, crlPath); len(got) != 1 || got[0] != deviceSerial(t, cam1Dir) {
		t.Errorf("CRL lists %v; want cam-1's serial", got)
	}
	if l := logs.String(); !strings.Contains(l, "reload command failed") || !strings.Contains(l, "No such file") {
		t.Errorf("log does not record the failed reload with its output:\n%s", l)
	}
}

// Without a reload command, the revoke tells the operator to reload.
func TestExternalBrokerCRLNoReloadCommand(t *testing.T) {
	dir, mq := withMosquitto(t)
	_, c := startExternal(t, server.Config{DataDir: dir, MQTTBroker: mq.URL(), MQTTCRL: mosquittotest.CRLFile(mq.Dir)})
	if _, err := c.CreateDevice(ctx, vise.CreateDeviceRequest{Name: "cam-1"}); err != nil {
		t.Fatal(err)
	}
	rev, err := c.RevokeDevice(ctx, "cam-1")
	if err != nil {
		t.Fatal(err)
	}
	if rev.CRL == nil || rev.CRL.Reloaded || !strings.Contains(rev.CRL.Next, "reload Mosquitto now") {
		t.Errorf("CRL update %+v; want it to say to reload Mosquitto", rev.CRL)
	}
}

func TestCRLConfigErrors(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o600)
	for _, tc := range []struct {
		name string
		cfg  server.Config
		want string
	}{
		{"CRL without external broker", server.Config{MQTTCRL: filepath.Join(t.TempDir(), "crl.pem")}, "--mqtt-broker"},
		{"reload command without CRL", server.Config{MQTTBroker: "mqtts://127.0.0.1:1", MQTTReloadCommand: "true"}, "--mqtt-crl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.DataDir = t.TempDir()
			s, err := server.New(ctx, tc.cfg)
			if err == nil {
				s.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || vise.ErrorCode(err) != vise.CodeInvalid {
				t.Errorf("New: %v; want an invalid-input error naming %s", err, tc.want)
			}
		})
	}
	t.Run("unwritable CRL path", func(t *testing.T) {
		cfg := server.Config{DataDir: t.TempDir(), MQTTBroker: "mqtts://127.0.0.1:1", MQTTCRL: filepath.Join(notDir, "crl.pem"),
			Listen: "127.0.0.1:0", DeviceListen: "127.0.0.1:0"}
		s, err := server.New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Start(); err == nil || !strings.Contains(err.Error(), "--mqtt-crl "+cfg.MQTTCRL) {
			t.Errorf("start: %v; want an error naming --mqtt-crl and the file", err)
		}
	})
}

// crlSerials reads the CRL at path, checked against the data directory's
// CA, and returns the serials it lists.
func crlSerials(t *testing.T, dataDir, path string) []string {
	t.Helper()
	ca, err := pki.Open(filepath.Join(dataDir, "pki"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := ca.ParseCRL(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range crl.RevokedCertificateEntries {
		out = append(out, e.SerialNumber.Text(16))
	}
	return out
}

// deviceSerial is the serial of an enrolled agent's certificate.
func deviceSerial(t *testing.T, agentDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(agentDir, "identity", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return pki.Serial(cert)
}
