package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/agent"
	"github.com/vise-edge/vise/broker/mosquittotest"
	"github.com/vise-edge/vise/client"
	"github.com/vise-edge/vise/pki"
	"github.com/vise-edge/vise/server"
	"github.com/vise-edge/vise/store/pgtest"
)

// These tests run the server against a real Mosquitto instead of its
// embedded broker, configured as the README says.

// withMosquitto makes the data directory's CA and starts mosquitto with a
// broker certificate from it.
func withMosquitto(t *testing.T) (dataDir string, mq *mosquittotest.Broker) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test")
	}
	dataDir = t.TempDir()
	ca, err := pki.Open(filepath.Join(dataDir, "pki"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return dataDir, mosquittotest.Start(t, ca)
}

func startExternal(t *testing.T, cfg server.Config) (*server.Server, *client.Client) {
	t.Helper()
	cfg.Listen, cfg.DeviceListen, cfg.MQTTListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	s, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := s.Start(); err != nil {
		s.Close()
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, client.New(s.URL(), s.AdminToken())
}

// runAgent enrolls and runs an in-process agent. Its periodic reconcile is
// slow, so a deployment reaches it by the broker's announcement.
func runAgent(t *testing.T, s *server.Server, c *client.Client, name string) *agent.Agent {
	t.Helper()
	tok, err := c.CreateEnrollmentToken(ctx, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ag, err := agent.New(agent.Config{Server: s.DeviceURL(), Token: tok.Token, DataDir: filepath.Join(t.TempDir(), name), Name: name,
		Reconcile: 10 * time.Minute, NoIPC: true})
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ag.Run(actx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("agent did not stop within 20s")
		}
	})
	poll(t, name+" to enroll and report its status through the broker", 30*time.Second, func() bool {
		d, err := c.Device(ctx, name)
		return err == nil && d.LastSeenAt != nil
	})
	return ag
}

// poll waits until cond holds, checking every 50 ms.
func poll(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scrape reads one sample from a server's /metrics (0 if absent).
func scrape(t *testing.T, s *server.Server, series string) float64 {
	t.Helper()
	resp, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, _ := strconv.ParseFloat(rest, 64)
			return v
		}
	}
	return 0
}

func resultsOf(t *testing.T, c *client.Client, device string) []vise.Result {
	t.Helper()
	rs, err := c.Results(ctx, device, time.Now().Add(-time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

const stored = `vise_results_total{outcome="stored"}`

// An enrolled agent gets its deployment announced through Mosquitto, reports
// its progress through it, and its results are stored exactly once.
func TestExternalBrokerDeployAndResults(t *testing.T) {
	dir, mq := withMosquitto(t)
	s, c := startExternal(t, server.Config{DataDir: dir, MQTTBroker: mq.URL(), MQTTClientID: "vise:server:a"})
	if s.MQTTAddr() != mq.Addr {
		t.Errorf("devices are told MQTT %s, want the external broker %s", s.MQTTAddr(), mq.Addr)
	}
	if err := s.BrokerReady(); err != nil {
		t.Errorf("broker not ready: %v", err)
	}
	ag := runAgent(t, s, c, "cam-1")

	model := uploadBytes(t, c, "model bytes")
	rcp := recipe("vise.model.metal-tags", "1.0.0", model, nil)
	rcp.Lifecycle = vise.Lifecycle{} // a model: nothing runs
	if _, _, err := c.CreateComponent(ctx, rcp); err != nil {
		t.Fatal(err)
	}
	d, err := c.CreateDeployment(ctx, vise.CreateDeploymentRequest{Target: vise.Target{Kind: vise.TargetDevice, Name: "cam-1"},
		Components: []vise.ComponentRef{{Name: "vise.model.metal-tags", Version: "1.0.0"}}})
	if err != nil {
		t.Fatal(err)
	}
	poll(t, "the deployment to run on cam-1", 30*time.Second, func() bool {
		got, err := c.Deployment(ctx, d.ID)
		return err == nil && len(got.Devices) == 1 && got.Devices[0].State == vise.DeviceRunning
	})

	const n = 25
	for i := range n {
		ag.PublishResult("vise.inspect", fmt.Appendf(nil, `{"schema":1,"msg_id":"r-%03d","detections":[]}`, i))
	}
	ag.PublishResult("vise.inspect", []byte(`{"schema":1,"msg_id":"r-000","detections":[]}`)) // a redelivery
	poll(t, "all results stored", 30*time.Second, func() bool { return scrape(t, s, stored) >= n })
	poll(t, "the redelivered result counted as a duplicate", 10*time.Second, func() bool {
		return scrape(t, s, `vise_results_total{outcome="duplicate"}`) == 1
	})
	if rs := resultsOf(t, c, "cam-1"); len(rs) != n || scrape(t, s, stored) != n {
		t.Errorf("stored %d results (counter %v), want %d", len(rs), scrape(t, s, stored), n)
	}

	// Without its broker the server is alive but not ready.
	if code := getStatus(t, s.URL()+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with the broker up: %d", code)
	}
	mq.Stop()
	poll(t, "/readyz to report the broker gone", 30*time.Second, func() bool {
		return getStatus(t, s.URL()+"/readyz") == http.StatusServiceUnavailable
	})
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Two replicas on one PostgreSQL database share the subscription: every
// result is stored exactly once and both ingest some.
func TestExternalBrokerReplicasShareIngestion(t *testing.T) {
	dirA, mq := withMosquitto(t)
	db := pgtest.NewDatabase(t)
	a, c := startExternal(t, server.Config{DataDir: dirA, DB: db, MQTTBroker: mq.URL(), MQTTClientID: "vise:server:a"})
	// Replicas share the CA and the release signing keys (an operator
	// copies them); the rest of the data directory is their own.
	dirB := t.TempDir()
	for _, sub := range []string{"pki", "release"} {
		if err := os.CopyFS(filepath.Join(dirB, sub), os.DirFS(filepath.Join(dirA, sub))); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := startExternal(t, server.Config{DataDir: dirB, DB: db, MQTTBroker: mq.URL(), MQTTClientID: "vise:server:b"})

	agents := []*agent.Agent{runAgent(t, a, c, "cam-1"), runAgent(t, a, c, "cam-2")}
	const perDevice = 60
	for i := range perDevice {
		for j, ag := range agents {
			ag.PublishResult("vise.inspect", fmt.Appendf(nil, `{"schema":1,"msg_id":"d%d-%03d","detections":[]}`, j, i))
		}
	}
	total := func() float64 { return scrape(t, a, stored) + scrape(t, b, stored) }
	poll(t, "all results stored", 60*time.Second, func() bool { return total() >= 2*perDevice })
	sa, sb := scrape(t, a, stored), scrape(t, b, stored)
	t.Logf("replica a stored %v, replica b stored %v", sa, sb)
	if sa == 0 || sb == 0 {
		t.Errorf("replica a stored %v and b %v results; want both to take a share", sa, sb)
	}
	for _, dev := range []string{"cam-1", "cam-2"} {
		if rs := resultsOf(t, c, dev); len(rs) != perDevice {
			t.Errorf("%s: %d results in the database, want %d", dev, len(rs), perDevice)
		}
	}
	// Each message went to one replica only: no replica saw one the other
	// had stored (that would count as a duplicate).
	dup := `vise_results_total{outcome="duplicate"}`
	if sa+sb != 2*perDevice || scrape(t, a, dup)+scrape(t, b, dup) != 0 {
		t.Errorf("stored %v results in all and saw %v duplicates; want %d and 0", sa+sb, scrape(t, a, dup)+scrape(t, b, dup), 2*perDevice)
	}
}

// Mosquitto's ACL keeps a device to its own subtree, and the server drops
// what a revoked device still publishes through it.
func TestExternalBrokerACLAndRevocation(t *testing.T) {
	dir, mq := withMosquitto(t)
	s, c := startExternal(t, server.Config{DataDir: dir, MQTTBroker: mq.URL(), MQTTClientID: "vise:server:a"})
	runAgent(t, s, c, "cam-2")
	cam1Dir := enrollOnly(t, s, c, "cam-1")

	probe := deviceClient(t, cam1Dir, mq.Addr, "cam-1")
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	_, err := probe.Publish(pctx, &paho.Publish{Topic: "vise/devices/cam-2/inference/vise.inspect", QoS: 1,
		Payload: []byte(`{"schema":1,"msg_id":"forged-1","detections":[]}`)})
	if err == nil || !strings.Contains(err.Error(), "not authorized") {
		t.Errorf("publishing on cam-2's topic: %v; want refused as not authorized", err)
	}
	if _, err := probe.Publish(pctx, &paho.Publish{Topic: "vise/devices/cam-1/inference/vise.inspect", QoS: 1,
		Payload: []byte(`{"schema":1,"msg_id":"own-1","detections":[]}`)}); err != nil {
		t.Fatal(err)
	}
	poll(t, "cam-1's own result", 10*time.Second, func() bool { return len(resultsOf(t, c, "cam-1")) == 1 })
	if rs := resultsOf(t, c, "cam-2"); len(rs) != 0 {
		t.Errorf("cam-2 has results %+v; cam-1 forged them", rs)
	}

	if _, err := c.RevokeDevice(ctx, "cam-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := probe.Publish(pctx, &paho.Publish{Topic: "vise/devices/cam-1/inference/vise.inspect", QoS: 1,
		Payload: []byte(`{"schema":1,"msg_id":"own-2","detections":[]}`)}); err != nil {
		t.Fatal(err)
	}
	poll(t, "the revoked device's result dropped", 10*time.Second, func() bool {
		return scrape(t, s, "vise_mqtt_revoked_dropped_total") == 1
	})
	if rs := resultsOf(t, c, "cam-1"); len(rs) != 1 {
		t.Errorf("cam-1 has %d results after revocation, want 1", len(rs))
	}
}

func TestExternalBrokerStartErrors(t *testing.T) {
	dir, mq := withMosquitto(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	other, err := pki.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	otherCA := filepath.Join(t.TempDir(), "other-ca.pem")
	os.WriteFile(otherCA, other.CertPEM(), 0o644)
	for _, tc := range []struct {
		name string
		cfg  server.Config
		want string
	}{
		{"unreachable", server.Config{MQTTBroker: "mqtts://" + closed}, "no connection within 2s"},
		{"wrong CA", server.Config{MQTTBroker: mq.URL(), MQTTCA: otherCA}, "certificate is not trusted"},
		{"missing CA file", server.Config{MQTTBroker: mq.URL(), MQTTCA: filepath.Join(dir, "nope.pem")}, "--mqtt-ca"},
		{"not TLS", server.Config{MQTTBroker: "mqtt://" + mq.Addr}, "mqtts://host:port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.DataDir, cfg.MQTTConnectTimeout = t.TempDir(), 2*time.Second
			os.CopyFS(filepath.Join(cfg.DataDir, "pki"), os.DirFS(filepath.Join(dir, "pki")))
			cfg.Listen, cfg.DeviceListen = "127.0.0.1:0", "127.0.0.1:0"
			s, err := server.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.Start()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("start: %v; want an error saying %q", err, tc.want)
			}
		})
	}
}
