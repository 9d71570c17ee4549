package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/vise-edge/vise"
)

// ExternalOptions configure the server's connection to an external broker
// (Mosquitto, a cluster) that devices connect to instead of the embedded one.
type ExternalOptions struct {
	URL string      // required: mqtts://host:port
	TLS *tls.Config // required: the server's client certificate and the CA of the broker's
	// ClientID is required and must be unique per server replica and stable
	// across its restarts: the broker keeps the replica's session, and the
	// messages queued in it, under this id.
	ClientID string
	// Share is the shared-subscription group (MQTT 5 $share): replicas in
	// one group split the devices' messages between them. Default "vise".
	Share string
	// SessionExpiry is how long the broker keeps this replica's session
	// (its subscriptions and the QoS 1 messages queued for it) while it is
	// disconnected, so a restart loses nothing. Default 1 hour.
	SessionExpiry time.Duration
	// ConnectTimeout bounds the wait for the first connection; default 15 s.
	ConnectTimeout time.Duration
	// PublicAddr is the host:port devices are given; default the URL's.
	PublicAddr string
	// Subscriptions are in place before the first connection: a resumed
	// session delivers what was queued for it at once, before a later
	// Subscribe call could register its handler.
	Subscriptions []Subscription
	Logger        *slog.Logger
}

// Subscription is a topic filter and the function its messages go to.
type Subscription struct {
	Filter string
	Fn     Handler
	// Async, if set, takes QoS 1 messages instead of Fn (which may then
	// be nil), and answers each later; up to Concurrent messages of one
	// connection (the embedded broker: of one device; an external one: of
	// the server's one connection) are in it at once, and acknowledged
	// in the order received all the same. Messages whose order matters
	// (status) go to Fn, one at a time. See acks.go.
	Async      AsyncHandler
	Concurrent int
}

// AsyncHandler is a Handler that answers through done, exactly once, from
// any goroutine, with what a Handler would return. It must not wait for
// the answer itself: the broker reads nothing more from the connection
// until it returns.
type AsyncHandler func(topic string, payload []byte, done func(error))

// handler is the Subscription's one-at-a-time function: Fn, or Async
// waited for.
func (s Subscription) handler() Handler {
	if s.Fn != nil || s.Async == nil {
		return s.Fn
	}
	return func(topic string, payload []byte) error {
		got := make(chan error, 1)
		s.Async(topic, payload, func(err error) { got <- err })
		return <-got
	}
}

// concurrent tells whether a QoS qos message goes to Async.
func (s Subscription) concurrent(qos byte) bool {
	return s.Async != nil && qos == 1 && s.Concurrent > 1
}

// External is the server's side of an external broker. Device
// authentication and topic ACLs are the broker's job there (the README's
// "External MQTT broker" section has Mosquitto settings that match the
// embedded broker's rules).
type External struct {
	opts ExternalOptions
	host string
	cm   *autopaho.ConnectionManager
	up   atomic.Bool
	// lastErr is the latest failed connection attempt, for error messages.
	lastErr atomic.Pointer[error]
	errs    chan error

	// conn counts connections: a message handed to a handler on one is
	// acknowledged only on that one (concurrent.go).
	conn     atomic.Int64
	inflight chan struct{} // bounds the messages in Async handlers
	acks     chan *asyncMsg

	mu   sync.Mutex
	subs []Subscription
}

// NewExternal connects to the broker and returns once connected; it then
// keeps reconnecting until Close or until ctx is cancelled. A broker that
// cannot be reached within ConnectTimeout, or whose certificate is not
// trusted, is an error that says which.
func NewExternal(ctx context.Context, opts ExternalOptions) (*External, error) {
	if opts.Share == "" {
		opts.Share = "vise"
	}
	if opts.SessionExpiry == 0 {
		opts.SessionExpiry = time.Hour
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 15 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(opts.URL)
	if err != nil || u.Scheme != "mqtts" || u.Port() == "" || u.Hostname() == "" {
		return nil, vise.Errorf(vise.CodeInvalid, "external MQTT broker %q: use mqtts://host:port (TLS is required)", opts.URL)
	}
	if opts.ClientID == "" || opts.TLS == nil {
		return nil, vise.Errorf(vise.CodeInvalid, "external MQTT broker: a client id and a TLS configuration are required")
	}
	if opts.PublicAddr == "" {
		opts.PublicAddr = u.Host
	}
	inflight := maxConcurrent(opts.Subscriptions)
	e := &External{opts: opts, host: u.Host, errs: make(chan error, 1), subs: opts.Subscriptions,
		inflight: make(chan struct{}, inflight), acks: make(chan *asyncMsg, inflight)}
	go e.ack(ctx)
	e.cm, err = autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls: []*url.URL{{Scheme: "tls", Host: u.Host}}, TlsCfg: opts.TLS, KeepAlive: 30,
		ConnectRetryDelay: time.Second, ConnectTimeout: 10 * time.Second,
		// Resume the session: what the broker queued for this replica while
		// it was away is delivered now.
		CleanStartOnInitialConnection: false, SessionExpiryInterval: uint32(opts.SessionExpiry / time.Second),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			e.up.Store(true)
			opts.Logger.Info("connected to the external MQTT broker", "broker", u.Host, "client_id", opts.ClientID)
			go e.resubscribe(ctx)
		},
		OnConnectionDown: func() bool {
			e.up.Store(false)
			e.conn.Add(1)
			opts.Logger.Warn("lost the external MQTT broker; reconnecting", "broker", u.Host)
			return true
		},
		OnConnectError: func(err error) {
			e.lastErr.Store(&err)
			select {
			case e.errs <- err:
			default:
			}
			opts.Logger.Warn("external MQTT broker connection failed", "broker", u.Host, "err", err)
		},
		ClientConfig: paho.ClientConfig{ClientID: opts.ClientID, EnableManualAcknowledgment: true,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) {
					e.receive(ctx, pr)
					return true, nil
				}}},
	})
	if err != nil {
		return nil, fmt.Errorf("external MQTT broker %s: %w", u.Host, err)
	}
	if err := e.awaitFirst(ctx); err != nil {
		e.Close()
		return nil, err
	}
	for _, sub := range opts.Subscriptions {
		if err := e.subscribe(ctx, sub.Filter); err != nil {
			e.Close()
			return nil, vise.Errorf(vise.CodeUnavailable, "external MQTT broker %s: %w; the broker's ACL must let the server's user (its certificate's CN) read and write vise/#", u.Host, err)
		}
	}
	return e, nil
}

// awaitFirst waits for the first connection. Retrying cannot cure a
// certificate problem or a refusal by the broker, so those fail at once.
func (e *External) awaitFirst(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, e.opts.ConnectTimeout)
	defer cancel()
	up := make(chan error, 1)
	go func() { up <- e.cm.AwaitConnection(wctx) }()
	probed := false
	for {
		select {
		case err := <-up:
			if err == nil {
				return nil
			}
			last := "none"
			if p := e.lastErr.Load(); p != nil {
				last = (*p).Error()
			}
			return vise.Errorf(vise.CodeUnavailable, "external MQTT broker %s: no connection within %s (last error: %s); check --mqtt-broker and that the broker is running and reachable",
				e.host, e.opts.ConnectTimeout, last)
		case err := <-e.errs:
			if ferr := e.fatal(err); ferr != nil {
				return ferr
			}
			if !probed {
				probed = true
				if ferr := e.fatal(probeTLS(wctx, e.host, e.opts.TLS)); ferr != nil {
					return ferr
				}
			}
		}
	}
}

// fatal explains a connection error that retrying will not cure, or
// returns nil.
func (e *External) fatal(err error) error {
	var verr *tls.CertificateVerificationError
	var alert tls.AlertError
	var connack *autopaho.ConnackError
	var op *net.OpError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &verr):
		return vise.Errorf(vise.CodeUnavailable, "external MQTT broker %s: TLS: its certificate is not trusted (%w); pass the CA that issued it with --mqtt-ca, or issue it with 'vise broker cert'", e.host, err)
	case errors.As(err, &alert) || (errors.As(err, &op) && op.Op == "remote error"):
		return vise.Errorf(vise.CodeUnavailable, "external MQTT broker %s: TLS: it refused the server's client certificate (%w); give the broker the Vise CA (<data>/pki/ca.pem, also written by 'vise broker cert') as its cafile", e.host, err)
	case errors.As(err, &connack):
		return vise.Errorf(vise.CodeUnavailable, "external MQTT broker %s refused the connection (%w); check use_identity_as_username and the ACL for the server's user", e.host, err)
	}
	return nil
}

// probeTLS looks for the reason a connection failed that the MQTT client
// cannot see: with TLS 1.3 a broker refuses a client certificate after the
// handshake, so the client's CONNECT meets a reset connection rather than
// the broker's alert. Reading once after the handshake shows the alert.
func probeTLS(ctx context.Context, host string, cfg *tls.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, err = conn.Read(make([]byte, 1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil // the broker waits for CONNECT: TLS is fine
	}
	return err
}

func (e *External) resubscribe(ctx context.Context) {
	e.mu.Lock()
	subs := append([]Subscription(nil), e.subs...)
	e.mu.Unlock()
	for _, s := range subs {
		if err := e.subscribe(ctx, s.Filter); err != nil && ctx.Err() == nil {
			e.opts.Logger.Error("subscribe on the external MQTT broker; this replica ingests nothing from it", "filter", s.Filter, "err", err)
		}
	}
}

func (e *External) shared(filter string) string { return "$share/" + e.opts.Share + "/" + filter }

func (e *External) subscribe(ctx context.Context, filter string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := e.cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: e.shared(filter), QoS: 1}}})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", e.shared(filter), err)
	}
	return nil
}

// dispatch hands a message to its handlers, trying again while they say
// "not now" (the database or blob store is away): holding the message
// back holds back the broker's next ones too, so the server stops taking
// messages until it can store them. It tells whether to acknowledge: not
// when the server stops first, or the connection the message came on is
// gone, so the broker delivers it again.
func (e *External) dispatch(ctx context.Context, conn int64, topic string, payload []byte) bool {
	handled := false
	for _, s := range e.matching(topic) {
		handled = true
		fn := s.handler()
		for wait := 100 * time.Millisecond; fn(topic, payload) != nil; wait = min(2*wait, 5*time.Second) {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(wait):
			}
			if e.conn.Load() != conn {
				return false
			}
		}
	}
	if !handled {
		e.opts.Logger.Warn("message on no subscribed topic dropped", "topic", topic)
	}
	return true
}

func (e *External) matching(topic string) []Subscription {
	e.mu.Lock()
	defer e.mu.Unlock()
	return matchingSubs(e.subs, topic)
}

// Publish sends a message as the server, waiting up to 10 s for a
// connection if the broker is away.
func (e *External) Publish(topic string, payload []byte, retain bool, qos byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.cm.AwaitConnection(ctx); err != nil {
		return vise.Errorf(vise.CodeUnavailable, "publish %s: not connected to the external MQTT broker %s", topic, e.host)
	}
	if _, err := e.cm.Publish(ctx, &paho.Publish{Topic: topic, Payload: payload, Retain: retain, QoS: qos}); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

// Subscribe registers fn for filter as a shared subscription: each message
// goes to one replica of the group. The subscription is renewed on every
// reconnection. Subscriptions known at start belong in
// ExternalOptions.Subscriptions instead (see there).
func (e *External) Subscribe(filter string, fn Handler) error {
	e.mu.Lock()
	e.subs = append(e.subs, Subscription{Filter: filter, Fn: fn})
	e.mu.Unlock()
	return e.subscribe(context.Background(), filter)
}

// Disconnect cannot reach into an external broker. The server drops what a
// revoked device still publishes; keeping it off the broker takes the
// broker's own revocation (Mosquitto: the crlfile `vise server --mqtt-crl`
// writes), which refuses new connections only.
func (e *External) Disconnect(device string) {
	e.opts.Logger.Warn("device revoked: the external MQTT broker keeps its current connection, and admits new ones until it loads a CRL that lists it (--mqtt-crl); the server drops its messages",
		"device", device)
}

// Addr is where devices connect: the public address.
func (e *External) Addr() string { return e.opts.PublicAddr }

// Ready tells whether the connection to the broker is up.
func (e *External) Ready() error {
	if e.up.Load() {
		return nil
	}
	last := "none"
	if p := e.lastErr.Load(); p != nil {
		last = (*p).Error()
	}
	return vise.Errorf(vise.CodeUnavailable, "not connected to the external MQTT broker %s (last error: %s)", e.host, last)
}

// Close disconnects, keeping the session (and what queues in it) on the
// broker for SessionExpiry.
func (e *External) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return e.cm.Disconnect(ctx)
}
