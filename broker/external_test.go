package broker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/broker"
	"github.com/vise-edge/vise/broker/mosquittotest"
	"github.com/vise-edge/vise/pki"
)

var ctx = context.Background()

func newCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, err := pki.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// serverTLS is the server's side: its service certificate, trusting roots.
func serverTLS(t *testing.T, ca *pki.CA, roots *x509.CertPool) *tls.Config {
	t.Helper()
	cert, err := ca.ClientCert(mosquittotest.ServerUser, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS12}
}

func external(t *testing.T, ca *pki.CA, url, clientID string, subs ...broker.Subscription) (*broker.External, error) {
	t.Helper()
	e, err := broker.NewExternal(ctx, broker.ExternalOptions{URL: url, TLS: serverTLS(t, ca, ca.Pool()), ClientID: clientID,
		ConnectTimeout: 30 * time.Second, Subscriptions: subs})
	if err == nil {
		t.Cleanup(func() { e.Close() })
	}
	return e, err
}

// device connects as an enrolled device would: its certificate from the CA.
func device(t *testing.T, ca *pki.CA, addr, name string) *paho.Client {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, key)
	certPEM, _, err := ca.SignDevice(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(),
		Certificates: []tls.Certificate{{Certificate: [][]byte{block.Bytes}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn)})
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if ca, err := c.Connect(cctx, &paho.Connect{ClientID: name, CleanStart: true, KeepAlive: 30}); err != nil || ca.ReasonCode != 0 {
		t.Fatalf("device %s connect: %v", name, err)
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	return c
}

// collector records what one replica received.
type collector struct {
	mu  sync.Mutex
	got map[string]int // payload -> times
}

func (c *collector) fn(_ string, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.got == nil {
		c.got = map[string]int{}
	}
	c.got[string(payload)]++
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.got {
		n += k
	}
	return n
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func publish(t *testing.T, c *paho.Client, topic, payload string) {
	t.Helper()
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := c.Publish(pctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)}); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

// Two replicas in one share group split the devices' messages: each message
// reaches exactly one of them, and both get some.
func TestExternalSharedSubscription(t *testing.T) {
	ca := newCA(t)
	mq := mosquittotest.Start(t, ca)
	var got [2]collector
	for i := range got {
		if _, err := external(t, ca, mq.URL(), fmt.Sprintf("vise:server:%d", i), broker.Subscription{Filter: "vise/devices/+/inference/+", Fn: got[i].fn}); err != nil {
			t.Fatal(err)
		}
	}
	cam := device(t, ca, mq.Addr, "cam-1")
	const n = 40
	for i := range n {
		publish(t, cam, "vise/devices/cam-1/inference/vise.inspect", fmt.Sprint(i))
	}
	waitFor(t, "all messages", 10*time.Second, func() bool { return got[0].count()+got[1].count() >= n })
	time.Sleep(200 * time.Millisecond) // a duplicate would show up now
	if a, b := got[0].count(), got[1].count(); a+b != n || a == 0 || b == 0 {
		t.Errorf("replicas received %d and %d of %d messages; want all exactly once, split between both", a, b, n)
	}
	for i := range n {
		if got[0].got[fmt.Sprint(i)]+got[1].got[fmt.Sprint(i)] != 1 {
			t.Errorf("message %d delivered %d+%d times", i, got[0].got[fmt.Sprint(i)], got[1].got[fmt.Sprint(i)])
		}
	}
}

// A device touches only its own subtree: mosquitto refuses the rest.
func TestExternalACL(t *testing.T) {
	ca := newCA(t)
	mq := mosquittotest.Start(t, ca)
	var got collector
	e, err := external(t, ca, mq.URL(), "vise:server:0", broker.Subscription{Filter: "vise/devices/+/status", Fn: got.fn})
	if err != nil {
		t.Fatal(err)
	}
	// The server announces a deployment before the device subscribes: the
	// message is retained, so the device gets it on subscribing.
	if err := e.Publish(broker.DeviceTopic("cam-1")+"/deployments", []byte(`{"id":"d1"}`), true, 1); err != nil {
		t.Fatal(err)
	}
	cam1 := device(t, ca, mq.Addr, "cam-1")
	recv := make(chan string, 10)
	cam1.AddOnPublishReceived(func(pr paho.PublishReceived) (bool, error) {
		recv <- pr.Packet.Topic + " " + string(pr.Packet.Payload)
		return true, nil
	})
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sa, _ := cam1.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "vise/devices/#", QoS: 1}, {Topic: "vise/devices/cam-1/deployments", QoS: 1}}})
	// Mosquitto grants a wildcard subscription and filters each message by
	// the ACL on delivery (checked below: cam-2's announcement never comes).
	if sa == nil || len(sa.Reasons) != 2 || sa.Reasons[0] >= 0x80 || sa.Reasons[1] >= 0x80 {
		t.Errorf("subscribe: %v", sa)
	}
	select {
	case m := <-recv:
		if m != `vise/devices/cam-1/deployments {"id":"d1"}` {
			t.Errorf("device received %q", m)
		}
	case <-time.After(30 * time.Second):
		t.Error("the device did not receive the server's retained announcement")
	}
	if err := e.Publish(broker.DeviceTopic("cam-2")+"/deployments", []byte(`{"id":"d2"}`), true, 1); err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := cam1.Publish(pctx, &paho.Publish{Topic: "vise/devices/cam-2/status", QoS: 1, Payload: []byte("forged")}); err == nil || !strings.Contains(err.Error(), "not authorized") {
		t.Errorf("publishing on cam-2's topic: err = %v, want not authorized", err)
	}
	publish(t, cam1, "vise/devices/cam-1/status", "own")
	waitFor(t, "cam-1's own status", 30*time.Second, func() bool { return got.count() >= 1 })
	time.Sleep(200 * time.Millisecond)
	if got.got["forged"] != 0 || got.got["own"] != 1 {
		t.Errorf("server received %v; want only cam-1's own status", got.got)
	}
	for len(recv) > 0 {
		if m := <-recv; !strings.HasPrefix(m, "vise/devices/cam-1/") {
			t.Errorf("cam-1 received %q, not its own", m)
		}
	}
}

// What the broker queued for a replica while it was away arrives when it
// comes back under the same client id.
func TestExternalResumesSession(t *testing.T) {
	ca := newCA(t)
	mq := mosquittotest.Start(t, ca)
	var got collector
	sub := broker.Subscription{Filter: "vise/devices/+/inference/+", Fn: got.fn}
	e, err := external(t, ca, mq.URL(), "vise:server:0", sub)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	cam := device(t, ca, mq.Addr, "cam-1")
	publish(t, cam, "vise/devices/cam-1/inference/x", "while away")
	if _, err := external(t, ca, mq.URL(), "vise:server:0", sub); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message queued while the replica was away", 10*time.Second, func() bool { return got.count() >= 1 })
}

func TestExternalErrors(t *testing.T) {
	ca := newCA(t)
	mq := mosquittotest.Start(t, ca)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	otherCA := newCA(t)
	for _, tc := range []struct {
		name, url string
		tls       *tls.Config
		want      []string
	}{
		{"unreachable", "mqtts://" + closed, serverTLS(t, ca, ca.Pool()), []string{"no connection within", "connection refused", "--mqtt-broker"}},
		{"wrong CA", mq.URL(), serverTLS(t, ca, otherCA.Pool()), []string{"TLS", "certificate is not trusted", "--mqtt-ca"}},
		{"client certificate from another CA", mq.URL(), serverTLS(t, otherCA, ca.Pool()), []string{"TLS", "refused the server's client certificate"}},
		{"plain mqtt", "mqtt://" + mq.Addr, serverTLS(t, ca, ca.Pool()), []string{"mqtts://host:port"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			e, err := broker.NewExternal(ctx, broker.ExternalOptions{URL: tc.url, TLS: tc.tls, ClientID: "vise:server:0", ConnectTimeout: 3 * time.Second})
			if err == nil {
				e.Close()
				t.Fatal("connected")
			}
			if c := vise.ErrorCode(err); c != vise.CodeUnavailable && c != vise.CodeInvalid {
				t.Errorf("error code %s", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.name != "unreachable" && time.Since(start) > 2*time.Second {
				t.Errorf("took %s to give up on an error retrying cannot cure", time.Since(start))
			}
		})
	}
}

// asyncHolder is an Async handler that keeps messages until answered.
type asyncHolder struct {
	mu   sync.Mutex
	held map[string]func(error)
	seen map[string]int // payload -> times handed over
}

func (h *asyncHolder) fn(_ string, payload []byte, done func(error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held[string(payload)] = done
	h.seen[string(payload)]++
}

func (h *asyncHolder) state() (held int, seen map[string]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held), maps.Clone(h.seen)
}

func (h *asyncHolder) answer(payload string, err error) {
	h.mu.Lock()
	done := h.held[payload]
	delete(h.held, payload)
	h.mu.Unlock()
	done(err)
}

// Results from an external broker reach an Async handler together, not
// one at a time, so they can share a transaction; one the server cannot
// take now is handed over again.
func TestExternalAsyncResultsTogether(t *testing.T) {
	ca := newCA(t)
	mq := mosquittotest.Start(t, ca)
	h := &asyncHolder{held: map[string]func(error){}, seen: map[string]int{}}
	if _, err := external(t, ca, mq.URL(), "vise:server:0", broker.Subscription{Filter: "vise/devices/+/inference/+", Async: h.fn, Concurrent: 10}); err != nil {
		t.Fatal(err)
	}
	cam := device(t, ca, mq.Addr, "cam-1")
	for i := range 5 {
		publish(t, cam, "vise/devices/cam-1/inference/vise.inspect", fmt.Sprint(i))
	}
	waitFor(t, "5 results in the handler at once", 30*time.Second, func() bool { held, _ := h.state(); return held == 5 })
	h.answer("2", errors.New("database away"))
	for _, p := range []string{"0", "1", "3", "4"} {
		h.answer(p, nil)
	}
	waitFor(t, "result 2 handed over again", 30*time.Second, func() bool { held, seen := h.state(); return held == 1 && seen["2"] == 2 })
	h.answer("2", nil)
	if _, seen := h.state(); !cmp.Equal(seen, map[string]int{"0": 1, "1": 1, "2": 2, "3": 1, "4": 1}) {
		t.Errorf("handed over %v", seen)
	}
}
