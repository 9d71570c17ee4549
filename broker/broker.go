// Package broker is the MQTT broker devices talk to: an embedded
// mochi-mqtt server on a mutual-TLS listener, behind a small interface so an
// external broker (Mosquitto, a cluster) can take its place. Every device is
// confined to its own topic subtree, vise/devices/<device>/..., by an ACL
// keyed on the identity in its client certificate.
package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/mqttauth"
)

// Broker is what the server needs from an MQTT broker.
type Broker interface {
	// Publish sends a message as the server.
	Publish(topic string, payload []byte, retain bool, qos byte) error
	// Subscribe hands every device message matching filter to fn. The
	// message is acknowledged to its sender only after fn returns nil; an
	// error means "not taken, send it again".
	Subscribe(filter string, fn Handler) error
	// Disconnect cuts a device off now (after revocation).
	Disconnect(device string)
	// Addr is where devices connect.
	Addr() string
	Close() error
}

// Handler takes a message the server subscribed to. It returns nil once
// the message is dealt with for good (stored, or refused for a reason that
// sending it again cannot cure), an error if it could not be taken now:
// one wrapping ErrOverQuota if the sender sends faster than it may.
type Handler func(topic string, payload []byte) error

// ErrOverQuota is a Handler's "this sender is over its quota": the
// embedded broker answers PUBACK 0x97 (quota exceeded) instead of 0x83,
// and the device sends the message again later.
var ErrOverQuota = errors.New("the device sends faster than its quota; it sends this again later")

// MaxPacket is the largest MQTT packet the broker accepts: a result with an
// attached camera image fits.
const MaxPacket = 8 << 20

// ServerUser is the server's identity on an external broker: its client
// certificate's common name, which Mosquitto's use_identity_as_username
// makes the user its ACL names. A colon cannot occur in a device name, so
// no device can be this user.
const ServerUser = "vise:server"

// DeviceTopic is the root of a device's subtree.
func DeviceTopic(device string) string { return deviceapi.DeviceTopic(device) }

// maxWritesPending bounds the packets queued for one device.
const maxWritesPending = 64

// Options configure the embedded broker.
type Options struct {
	Listen string      // default "127.0.0.1:8883"
	TLS    *tls.Config // required: server certificate, ClientAuth RequireAndVerifyClientCert
	// Authorize decides whether a device, identified by its verified
	// certificate, may connect (not revoked, current serial). An error
	// that means "not now" (vise.NotNow: coded unavailable, or a deadline)
	// is answered CONNACK "server unavailable" (come back later); any
	// other refuses the device.
	Authorize func(device, serial string) error
	// Identify extracts device name and serial from a verified certificate.
	Identify func(state tls.ConnectionState) (device, serial string, err error)
	Logger   *slog.Logger
	Metrics  prometheus.Registerer
}

// Embedded is a mochi-mqtt broker in this process.
type Embedded struct {
	srv      *mqtt.Server
	listener *listeners.TCP
	log      *slog.Logger
	denied   *prometheus.CounterVec

	acks ackOrder

	mu   sync.Mutex
	subs []Subscription
}

// NewEmbedded starts listening. Close stops it.
func NewEmbedded(opts Options) (*Embedded, error) {
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:8883"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Embedded{log: opts.Logger,
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vise_mqtt_denied_total",
			Help: "MQTT connections and topic accesses refused, by reason."}, []string{"reason"})}
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(b.denied)
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = MaxPacket // a bound on what one client can make the server buffer
	// mochi gives every client a queue of this many packets for the server
	// to write (default 8192 slots, 64 KiB a connection). The server writes
	// a device only deployment notices, and a notice that finds the queue
	// full is not lost for good: the agent asks for its deployment on its
	// reconcile tick anyway.
	caps.MaximumClientWritesPending = maxWritesPending
	b.srv = mqtt.New(&mqtt.Options{InlineClient: true, Capabilities: caps, Logger: opts.Logger.With("part", "mqtt")})
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vise_mqtt_clients_connected",
			Help: "Clients connected to the embedded broker now."},
			func() float64 { return float64(atomic.LoadInt64(&b.srv.Info.ClientsConnected)) }))
	}
	if err := b.srv.AddHook(newACLHook(b, opts), nil); err != nil {
		return nil, err
	}
	b.listener = listeners.NewTCP(listeners.Config{ID: "devices", Address: opts.Listen, TLSConfig: opts.TLS})
	if err := b.srv.AddListener(b.listener); err != nil {
		return nil, fmt.Errorf("MQTT listener on %s: %w; pick another address with --mqtt-listen", opts.Listen, err)
	}
	if err := b.srv.Serve(); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Embedded) Publish(topic string, payload []byte, retain bool, qos byte) error {
	return b.srv.Publish(topic, payload, retain, qos)
}

// Subscribe takes device messages matching filter in the broker's publish
// path (ingest.go), before the device is acknowledged.
func (b *Embedded) Subscribe(filter string, fn Handler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs = append(b.subs, Subscription{Filter: filter, Fn: fn})
	return nil
}

// Add is Subscribe with the Subscription's options (Concurrent).
func (b *Embedded) Add(sub Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs = append(b.subs, sub)
}

// Disconnect cuts a device off without its will: a revoked device's last
// words are not delivered either.
func (b *Embedded) Disconnect(device string) {
	for _, id := range []string{device, deviceapi.CandidateClientID(device)} {
		if cl, ok := b.srv.Clients.Get(id); ok {
			atomic.StoreUint32(&cl.Properties.Will.Flag, 0)
			b.srv.DisconnectClient(cl, packets.ErrNotAuthorized)
			cl.Stop(fmt.Errorf("device %s revoked", device))
		}
	}
}

func (b *Embedded) Addr() string { return b.listener.Address() }

func (b *Embedded) Close() error { return b.srv.Close() }

// aclHook authenticates devices by certificate and confines them to their
// own subtree (through mqttauth), checks wills, and hands device messages
// to the server (ingest.go).
type aclHook struct {
	*mqttauth.Hook
	b    *Embedded
	opts Options
}

func newACLHook(b *Embedded, opts Options) *aclHook {
	h := &aclHook{b: b, opts: opts}
	h.Hook = mqttauth.New(mqttauth.Rules{ID: "vise-acl", Name: "MQTT", Server: b.srv, Log: b.log, Connect: h.connect,
		Topic:  func(cl *mqtt.Client, topic string, _ bool) bool { return h.allowed(cl.ID, topic) },
		Denied: func(reason string) { b.denied.WithLabelValues(reason).Inc() }})
	return h
}

func (h *aclHook) Provides(b byte) bool {
	return b == mqtt.OnConnect || b == mqtt.OnPublish || mqttauth.Provided(b)
}

// OnConnect applies the topic rule to the will a client asks for: a will
// is a publish the broker makes on the client's behalf later, so it may
// only name the client's own subtree, and may not be retained (a device
// retains nothing). Refused with CONNACK "not authorized" [MQTT-3.2.2-8].
// Then the connection rule (connect, through mqttauth).
func (h *aclHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	reason := ""
	switch {
	case cl.Net.Inline || !pk.Connect.WillFlag:
	case !h.allowed(cl.ID, pk.Connect.WillTopic):
		reason = "will topic outside the device's subtree"
	case pk.Connect.WillRetain:
		reason = "retained will"
	}
	if reason == "" {
		return h.Hook.OnConnect(cl, pk)
	}
	h.b.denied.WithLabelValues("will").Inc()
	h.b.log.Warn("MQTT connection refused: "+reason, "client_id", cl.ID, "remote", cl.Net.Remote, "will_topic", pk.Connect.WillTopic)
	h.b.srv.SendConnack(cl, packets.ErrNotAuthorized, false, nil)
	return packets.ErrNotAuthorized
}

// allowed is the per-device rule: a device touches only topics below
// vise/devices/<its name>/. A candidate agent's client id speaks for its
// device (deviceapi.ClientDevice), so the same rule holds for it.
func (h *aclHook) allowed(clientID, topic string) bool {
	device, _ := deviceapi.ClientDevice(clientID)
	return device != "" && strings.HasPrefix(topic, DeviceTopic(device)+"/")
}

// connect is the device broker's connection rule: a verified device
// certificate, a client id that names the same device, and a device the
// server authorizes.
func (h *aclHook) connect(cl *mqtt.Client, _ packets.Packet) *mqttauth.Denial {
	tc, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return &mqttauth.Denial{Reason: "no_tls", Msg: "not a TLS connection"}
	}
	device, serial, err := h.opts.Identify(tc.ConnectionState())
	if err != nil {
		return &mqttauth.Denial{Reason: "no_identity", Msg: "no device identity in the certificate", Attrs: []any{"err", err}}
	}
	// The device's own client id, or its candidate agent's during a
	// self-update (decision 0021); either must match the certificate.
	if idDevice, _ := deviceapi.ClientDevice(cl.ID); idDevice != device {
		return &mqttauth.Denial{Reason: "client_id", Msg: "client id does not match the certificate", Attrs: []any{"device", device}}
	}
	if err := h.opts.Authorize(device, serial); err != nil {
		if vise.NotNow(err) {
			// The server could not tell now (a busy or absent database):
			// the device is told to come back, not that it is refused.
			return &mqttauth.Denial{Reason: "unavailable", Msg: "cannot authorize the device now", Attrs: []any{"device", device, "err", err}, Unavailable: true}
		}
		return &mqttauth.Denial{Reason: "unauthorized", Msg: "device not authorized", Attrs: []any{"device", device, "err", err}}
	}
	return nil
}
