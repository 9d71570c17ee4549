package broker

// Helpers for tests of the embedded broker in this package: a CA, an
// embedded broker on a loopback port, device certificates and real MQTT 5
// clients (paho) that connect with them.

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
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/vise-edge/vise/pki"
)

// testCA is a fresh device CA in a temporary directory.
func testCA(t *testing.T) *pki.CA {
	t.Helper()
	ca, err := pki.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// startEmbedded starts the embedded broker on 127.0.0.1:0 with mutual TLS
// against ca, identifying devices the way the server does (the device URI
// in a verified certificate). authorize may be nil: every device may connect.
func startEmbedded(t *testing.T, ca *pki.CA, authorize func(device, serial string) error) *Embedded {
	t.Helper()
	cert, err := ca.ServerCert([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if authorize == nil {
		authorize = func(string, string) error { return nil }
	}
	b, err := NewEmbedded(Options{Listen: "127.0.0.1:0",
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs: ca.Pool(), MinVersion: tls.VersionTLS13},
		Identify: func(st tls.ConnectionState) (string, string, error) {
			if len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
				return "", "", errors.New("no verified client certificate")
			}
			name, err := pki.DeviceName(st.PeerCertificates[0])
			return name, pki.Serial(st.PeerCertificates[0]), err
		},
		Authorize: authorize,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// deviceCert is a client certificate for device, from a CSR made here as
// enrollment does (the key never leaves the "device").
func deviceCert(t *testing.T, ca *pki.CA, device string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: device}}, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := ca.SignDevice(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), device, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	return tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key}
}

// mqttClient is a real MQTT 5 client and what it has received.
type mqttClient struct {
	*paho.Client
	Received *recorder
}

// dialMQTT connects to addr over TLS with cert, as clientID, and returns the
// CONNACK and error paho gives. A successful client is disconnected at the
// end of the test.
func dialMQTT(t *testing.T, ca *pki.CA, addr string, cert tls.Certificate, clientID string, cp *paho.Connect) (*mqttClient, *paho.Connack, error) {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	c := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			rec.add(pr.Packet.Topic, pr.Packet.Payload)
			return true, nil
		}}})
	if cp == nil {
		cp = &paho.Connect{CleanStart: true, KeepAlive: 30}
	}
	cp.ClientID = clientID
	cctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	ack, err := c.Connect(cctx, cp)
	if err != nil {
		conn.Close()
		return nil, ack, err
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	return &mqttClient{Client: c, Received: rec}, ack, nil
}

// connectDevice connects as device with a certificate of its own; the test
// fails if the broker refuses.
func connectDevice(t *testing.T, ca *pki.CA, addr, device string) *mqttClient {
	t.Helper()
	c, ack, err := dialMQTT(t, ca, addr, deviceCert(t, ca, device), device, nil)
	if err != nil {
		t.Fatalf("device %s connect: %v (CONNACK %+v)", device, err, ack)
	}
	return c
}

// publishQoS1 publishes at QoS 1 and returns the PUBACK reason code (0 is
// success) and paho's error.
func (c *mqttClient) publishQoS1(t *testing.T, topic, payload string) (byte, error) {
	t.Helper()
	pctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	resp, err := c.Publish(pctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
	if resp == nil {
		if err == nil {
			t.Fatalf("publish %s: no PUBACK and no error", topic)
		}
		t.Fatalf("publish %s: %v", topic, err)
	}
	return resp.ReasonCode, err
}

// subscribe subscribes to each filter at QoS 1 and returns the SUBACK
// reason codes, one per filter.
func (c *mqttClient) subscribe(t *testing.T, filters ...string) []byte {
	t.Helper()
	sctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	s := &paho.Subscribe{}
	for _, f := range filters {
		s.Subscriptions = append(s.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: 1})
	}
	ack, err := c.Subscribe(sctx, s)
	if ack == nil {
		t.Fatalf("subscribe %v: %v", filters, err)
	}
	if len(ack.Reasons) != len(filters) {
		t.Fatalf("subscribe %v: %d reason codes", filters, len(ack.Reasons))
	}
	return ack.Reasons
}

// message is one delivery, as a comparable value.
type message struct{ Topic, Payload string }

// recorder collects deliveries, for a paho client or an Embedded.Subscribe.
type recorder struct {
	mu  sync.Mutex
	got []message
}

func (r *recorder) add(topic string, payload []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, message{topic, string(payload)})
	return nil
}

func (r *recorder) messages() []message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]message(nil), r.got...)
}

func (r *recorder) has(topic, payload string) bool {
	for _, m := range r.messages() {
		if m == (message{topic, payload}) {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or within has passed.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// patience bounds every wait for the broker: generous, since it only
// matters when something is wrong, and a loaded CI machine is slow.
const patience = 30 * time.Second
