package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/vise-edge/vise/agent"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/server"
)

// Probes: connections to an external broker as an enrolled device would
// make them, outside the agent.

// deviceClient connects to the broker with an enrolled agent's certificate.
func deviceClient(t *testing.T, agentDir, addr, clientID string) *paho.Client {
	t.Helper()
	pc, err := dialDevice(agentDir, addr, clientID, 0)
	if err != nil {
		t.Fatalf("connect as %s: %v", clientID, err)
	}
	t.Cleanup(func() { pc.Disconnect(&paho.Disconnect{}) })
	return pc
}

// dialDevice makes a new TLS and MQTT connection to the broker with an
// enrolled agent's certificate, as that agent would (maxTLS 0: any
// version).
func dialDevice(agentDir, addr, clientID string, maxTLS uint16) (*paho.Client, error) {
	return dialDeviceWith(agentDir, addr, &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30}, maxTLS)
}

// deviceTLS is an enrolled agent's TLS client configuration.
func deviceTLS(agentDir string, maxTLS uint16) (*tls.Config, error) {
	id := filepath.Join(agentDir, "identity")
	cert, err := tls.LoadX509KeyPair(filepath.Join(id, "cert.pem"), filepath.Join(id, "key.pem"))
	if err != nil {
		return nil, err
	}
	caPEM, _ := os.ReadFile(filepath.Join(id, "ca.pem"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MaxVersion: maxTLS}, nil
}

// dialDeviceWith is dialDevice with a CONNECT of the caller's (a will, say).
func dialDeviceWith(agentDir, addr string, cp *paho.Connect, maxTLS uint16) (*paho.Client, error) {
	cfg, err := deviceTLS(agentDir, maxTLS)
	if err != nil {
		return nil, err
	}
	dialer := &tls.Dialer{Config: cfg}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := dialer.DialContext(cctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	pc := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn)})
	ack, err := pc.Connect(cctx, cp)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("MQTT connect: %w", err)
	}
	if ack.ReasonCode != 0 {
		conn.Close()
		return nil, fmt.Errorf("MQTT connect: reason code %d", ack.ReasonCode)
	}
	return pc, nil
}

// enrollOnly enrolls an agent and stops it: its certificate in the
// returned data directory is all a probe needs.
func enrollOnly(t *testing.T, s *server.Server, c *client.Client, name string) string {
	t.Helper()
	tok, err := c.CreateEnrollmentToken(ctx, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), name)
	ag, err := agent.New(agent.Config{Server: s.DeviceURL(), Token: tok.Token, DataDir: dir, Name: name, NoIPC: true})
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { ag.Run(actx); close(done) }()
	poll(t, name+" to enroll", 30*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(dir, "identity", "identity.json"))
		return err == nil
	})
	cancel()
	<-done
	return dir
}
