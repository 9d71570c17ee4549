package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vise-edge/vise"
)

// deviceTLS is the TLS identity an agent enrolled with.
func deviceTLS(t testing.TB, a *agentProc) *tls.Config {
	t.Helper()
	dir := filepath.Join(a.data, "identity")
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}
}

func mqttAddr(t testing.TB, a *agentProc) string {
	b, err := os.ReadFile(filepath.Join(a.data, "identity", "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	var id struct{ MQTT string }
	json.Unmarshal(b, &id)
	return id.MQTT
}

// mqttAs connects to the broker with a device's certificate under clientID.
func mqttAs(t testing.TB, addr string, cfg *tls.Config, clientID string) (*paho.Client, error) {
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30})
	if err != nil {
		conn.Close()
		return nil, err
	}
	if ca.ReasonCode != 0 {
		conn.Close()
		return nil, &vise.Error{Code: vise.CodeUnauthorized, Message: "connack " + ca.Properties.ReasonString}
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	return c, nil
}

func TestDeviceIsolationAndRevocation(t *testing.T) {
	e := startServer(t)
	cam1 := e.startAgent("cam-1", "")
	cam2 := e.startAgent("cam-2", "")
	addr, tlsCam1 := mqttAddr(t, cam1), deviceTLS(t, cam1)

	// cam-1's certificate cannot pose as cam-2.
	if _, err := mqttAs(t, addr, tlsCam1.Clone(), "cam-2"); err == nil {
		t.Error("cam-1's certificate connected as client cam-2")
	}
	// Without a client certificate there is no connection at all.
	noCert := tlsCam1.Clone()
	noCert.Certificates = nil
	if _, err := mqttAs(t, addr, noCert, "cam-1"); err == nil {
		t.Error("a client without a certificate connected")
	}
	// As itself, cam-1 may not read or write outside its subtree.
	c, err := mqttAs(t, addr, tlsCam1.Clone(), "cam-1-probe")
	if err == nil {
		t.Error("cam-1's certificate connected under another client id")
		c.Disconnect(&paho.Disconnect{})
	}
	// Stop cam-1's agent so the probe below does not fight it for the
	// session (MQTT lets a new connection take over a client id).
	cam1.cmd.Process.Signal(syscall.SIGTERM)
	cam1.cmd.Wait()
	c, err = mqttAs(t, addr, tlsCam1.Clone(), "cam-1")
	if err != nil {
		t.Fatalf("cam-1 cannot connect with its own certificate: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "vise/devices/#", QoS: 1}, {Topic: "vise/devices/cam-1/deployments", QoS: 1}}})
	if sa == nil {
		t.Fatalf("subscribe: %v", err)
	}
	if len(sa.Reasons) != 2 || sa.Reasons[0] < 0x80 || sa.Reasons[1] >= 0x80 {
		t.Errorf("subscribe reasons = %v; want the wildcard refused and its own topic granted", sa.Reasons)
	}
	c.Publish(ctx, &paho.Publish{Topic: "vise/devices/cam-2/status", QoS: 1, Payload: []byte(`{"generation":99}`)})
	e.waitFor("the broker to count both ACL refusals", 10*time.Second, func() bool {
		return metric(t, e, `vise_mqtt_denied_total{reason="acl"}`) >= 2
	})
	if g := e.status("cam-2").Generation; g == 99 {
		t.Error("cam-1 wrote cam-2's status")
	}

	// Revocation cuts the device off at once and keeps it out.
	e.ok("device", "revoke", "cam-2")
	if _, err := mqttAs(t, addr, deviceTLS(t, cam2), "cam-2"); err == nil {
		t.Error("a revoked device connected")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: deviceTLS(t, cam2)}}
	resp, err := client.Get(e.deviceURL + "/v1/device/deployment")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "revoked") {
		t.Errorf("revoked device on the device API: %d %s", resp.StatusCode, body)
	}
	e.fails(3, "device ghost not found", "device", "revoke", "ghost")
}

// metric reads one sample from the server's /metrics.
func metric(t *testing.T, e *env, series string) float64 {
	t.Helper()
	resp, err := http.Get(e.server + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			json.Unmarshal([]byte(rest), &v)
			return v
		}
	}
	return 0
}
