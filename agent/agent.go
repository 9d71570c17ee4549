// Package agent is the edge agent, `vise agent`: it enrolls the device,
// keeps a mutual-TLS MQTT connection to the server, and converges the device
// on its deployment — every recipe, document and artifact verified against
// signed release metadata before use, artifacts kept in a content-addressed
// cache, components laid out as generations that are swapped atomically.
package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/oklog/ulid/v2"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/localipc"
)

// Config is what `vise agent` takes on its command line.
type Config struct {
	Server    string // device API, e.g. https://vise.plant.local:8443
	Token     string // one-time enrollment token; needed on first start only
	DataDir   string // required
	Name      string // device name; default the host name
	Reconcile time.Duration
	// IPCListen is the local broker components publish to; default
	// "127.0.0.1:0" (a free port, given to components as VISE_IPC).
	IPCListen string
	// NoIPC runs without the local IPC endpoint (the fleet simulator's
	// agents, whose components are synthetic).
	NoIPC bool
	// QueueMaxBytes and QueueMaxAge cap the store-and-forward queue;
	// defaults 256 MiB and 7 days.
	QueueMaxBytes int64
	QueueMaxAge   time.Duration
	// SelfUpdate lets a deployment of vise.agent replace this agent's
	// binary (decision 0021): set by vise-agent, whose caller execs
	// Launcher() when Run returns ErrTakeover. `vise agent` cannot.
	SelfUpdate bool
	// ReleaseMemory returns the heap a burst leaves behind (enrollment,
	// a connection's TLS handshakes, a deployment's download and
	// verification) to the OS at once rather than over minutes: on a small
	// device that memory belongs to the inference component. vise-agent
	// sets it; the simulator's thousands of agents in one process do not.
	ReleaseMemory bool
	// SharedCache, if set, is an artifact cache this agent shares with
	// others in the process (the fleet simulator's): see SharedCache.
	SharedCache *SharedCache
	Logger      *slog.Logger

	// Fault hooks, nil in production: the fleet simulator's fault
	// rehearsal (`vise sim --faults`, package faults) acts through them.
	//
	// Dial opens the agent's connections to the server (HTTPS and MQTT),
	// so a link can be cut; default a plain dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// MQTTConn, if set, wraps the MQTT connection once TLS is up, in place
	// of paho's one-mutex wrapper: what it returns must be a sync.Locker,
	// which paho holds around each packet it writes. The fleet simulator's
	// --direct gathers packets into fewer TLS records this way.
	MQTTConn func(net.Conn) net.Conn
	// Now is the device's clock (certificate checks, queue ages); default
	// time.Now.
	Now func() time.Time
	// DiskCheck is asked before each write of the store-and-forward
	// queue; an error is the disk refusing the write (a full disk).
	DiskCheck func() error
	// OnPhase is called as a deployment enters each phase (download,
	// install, switch, health) on the goroutine applying it; the
	// rehearsal kills an agent there.
	OnPhase func(phase string)
}

func (c *Config) setDefaults() error {
	if c.DataDir == "" {
		return vise.Errorf(vise.CodeInvalid, "no data directory: pass --data DIR")
	}
	if c.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return vise.Errorf(vise.CodeInvalid, "no device name: pass --name")
		}
		c.Name = strings.ToLower(h)
	}
	if c.Reconcile == 0 {
		c.Reconcile = 2 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.IPCListen == "" {
		c.IPCListen = "127.0.0.1:0"
	}
	if c.QueueMaxBytes < 0 || c.QueueMaxAge < 0 {
		return vise.Errorf(vise.CodeInvalid, "--queue-max-bytes %d, --queue-max-age %s: give positive values (0: the default)", c.QueueMaxBytes, c.QueueMaxAge)
	}
	if c.QueueMaxBytes == 0 {
		c.QueueMaxBytes = 256 << 20
	}
	if c.QueueMaxAge == 0 {
		c.QueueMaxAge = 7 * 24 * time.Hour
	}
	return nil
}

// Agent is one device's agent.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	id   *identity
	http *http.Client
	mqtt *autopaho.ConnectionManager

	kick    chan struct{} // a deployment was announced
	mu      sync.Mutex
	state   State
	procs   []*proc // running components, in start order
	resumed bool    // the committed generation was started after boot
	ready   map[string]bool
	health  map[string]deviceapi.ComponentHealth // from the components' status reports
	linkUp  atomic.Bool
	wasUp   atomic.Bool // the broker connection was up once
	running atomic.Bool // out, ipc and the connection are set up
	ipc     *localipc.Server
	out     *outbox
	compat  compat
	selfState
	status  statusSender
	Metrics Metrics
}

// Metrics are counters tests and benchmarks read.
type Metrics struct {
	mu                sync.Mutex
	DownloadedBytes   int64
	CacheHits         int
	ArtifactsFetched  int
	DeploymentsFailed int
	ResultsRejected   int
}

func (m *Metrics) add(f func(m *Metrics)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m)
}

// Snapshot copies the counters.
func (m *Metrics) Snapshot() (bytes int64, hits, fetched int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.DownloadedBytes, m.CacheHits, m.ArtifactsFetched
}

// New checks the configuration and loads persisted state.
func New(cfg Config) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := vise.ValidateName("device", cfg.Name); err != nil {
		return nil, err
	}
	// Components run in their own working directories: every path the
	// agent hands them (configuration, dependencies) must be absolute.
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, vise.Errorf(vise.CodeInvalid, "data directory %s: %w", cfg.DataDir, err)
	}
	cfg.DataDir = abs
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, vise.Errorf(vise.CodeUnavailable, "cannot create data directory %s: %w", cfg.DataDir, err)
	}
	a := &Agent{cfg: cfg, log: cfg.Logger.With("device", cfg.Name), kick: make(chan struct{}, 1)}
	st, err := loadState(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a.state = st
	return a, nil
}

// Run enrolls if needed, connects, and converges until ctx is done.
func (a *Agent) Run(ctx context.Context) error {
	id, err := a.loadOrEnroll(ctx)
	if err != nil {
		return err
	}
	a.id = id
	if a.cfg.Server == "" {
		a.cfg.Server = id.Server
	}
	// A session ticket lets the next connection (the agent keeps none
	// idle) resume without a full handshake: no certificate signatures on
	// either side, which is most of what a fleet's rollout costs in TLS.
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{id.cert}, RootCAs: id.ca, MinVersion: tls.VersionTLS12, Time: a.cfg.Now,
		ClientSessionCache: tls.NewLRUClientSessionCache(2)}
	a.http = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg, ResponseHeaderTimeout: 30 * time.Second, DialContext: a.cfg.Dial}}
	if _, err := os.Stat(a.path("outbox.db")); err == nil {
		a.log.Warn("an older agent's queue, outbox.db, is left as it is: results still in it are not sent; remove it once you no longer need them",
			"path", a.path("outbox.db"))
	}
	if a.out, err = openOutbox(a.path("outbox.log"), outboxOptions{MaxBytes: a.cfg.QueueMaxBytes, MaxAge: a.cfg.QueueMaxAge, Logger: a.log,
		now: a.cfg.Now, diskCheck: a.cfg.DiskCheck}); err != nil {
		return err
	}
	defer a.out.Close()
	if !a.cfg.NoIPC {
		if a.ipc, err = localipc.Start(a.cfg.IPCListen, a.log, a.onResult, a.onVerdict, a.onComponentStatus); err != nil {
			return err
		}
		defer a.ipc.Close()
	}
	mqttTLS := tlsCfg.Clone()
	// Its own session cache: both servers answer to the same host name,
	// and one's ticket is no use to the other.
	mqttTLS.ClientSessionCache = tls.NewLRUClientSessionCache(1)
	if err := a.connect(ctx, mqttTLS); err != nil {
		return err
	}
	a.running.Store(true)
	defer a.running.Store(false)
	fwdCtx, stopFwd := context.WithCancel(ctx)
	defer stopFwd()
	go a.out.forward(fwdCtx, func(ctx context.Context, topic string, payload []byte) error {
		_, err := a.mqtt.Publish(ctx, &paho.Publish{QoS: 1, Topic: topic, Payload: payload})
		return err
	})
	a.log.Info("agent running", "server", a.cfg.Server, "mqtt", id.MQTT, "generation", a.state.Generation)
	t := time.NewTicker(a.cfg.Reconcile)
	defer t.Stop()
	retry, failures := newBackoff(), 0
	for {
		// A reconcile that failed (the server unreachable, restarting) is
		// tried again after a jittered backoff, not a whole tick later.
		var again <-chan time.Time
		if err := a.reconcile(ctx); err != nil && ctx.Err() == nil {
			if errors.Is(err, ErrTakeover) {
				a.stopAll()
				dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				a.mqtt.Disconnect(dctx)
				cancel()
				return err
			}
			a.log.Warn("reconcile; trying again", "err", err, "attempt", failures+1)
			again = time.After(retry.delay(failures))
			failures++
		} else {
			failures = 0
		}
		// The next request to the server is a reconcile tick away: an
		// idle HTTPS connection would hold its TLS buffers (tens of KiB,
		// here and on the server) for nothing until then.
		a.http.CloseIdleConnections()
		select {
		case <-ctx.Done():
			a.stopAll()
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			a.mqtt.Disconnect(dctx)
			cancel()
			return nil
		case <-t.C:
			a.publishStatus(ctx)
		case <-a.kick:
		case <-again:
		}
	}
}

func (a *Agent) connect(ctx context.Context, tlsCfg *tls.Config) error {
	u, err := url.Parse("tls://" + a.id.MQTT)
	if err != nil {
		return fmt.Errorf("broker address %q: %w", a.id.MQTT, err)
	}
	topic := deviceapi.DeploymentsTopic(a.id.Device)
	cfg := autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, TlsCfg: tlsCfg, KeepAlive: 30, SessionExpiryInterval: 3600,
		ReconnectBackoff: a.reconnectDelay(newBackoff()), ConnectTimeout: 10 * time.Second,
		OnConnectionDown: func() bool { a.linkUp.Store(false); return true },
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			a.linkUp.Store(true)
			reconnected := a.wasUp.Swap(true)
			a.log.Info("connected to broker", "broker", a.id.MQTT)
			go func() {
				if _, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}}); err != nil {
					a.log.Warn("subscribe", "topic", topic, "err", err)
				}
				a.publishStatus(ctx)
				if reconnected {
					// A deployment notice sent while the link was down
					// (or lost with a restarted broker's sessions) is
					// not coming again: ask the server now.
					a.kickReconcile()
				}
				a.releaseMemory()
			}()
		},
		OnConnectError: func(err error) { a.log.Warn("broker connection failed", "broker", a.id.MQTT, "err", err) },
		ConnectPacketBuilder: func(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			// paho sizes its incoming-publish queue by the Receive Maximum
			// it announces (default 65535 slots, 512 KiB a connection);
			// the server sends a device a few notices, not a stream.
			if cp.Properties == nil {
				cp.Properties = &paho.ConnectProperties{}
			}
			rm := uint16(receiveMaximum)
			cp.Properties.ReceiveMaximum = &rm
			return cp, nil
		},
		ClientConfig: paho.ClientConfig{ClientID: a.id.Device, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				if pr.Packet.Topic == topic {
					a.kickReconcile()
				}
				return true, nil
			}}},
	}
	if a.cfg.Dial != nil || a.cfg.MQTTConn != nil {
		dial, wrap := a.cfg.Dial, a.cfg.MQTTConn
		if dial == nil {
			dial = (&net.Dialer{}).DialContext
		}
		if wrap == nil {
			wrap = packets.NewThreadSafeConn
		}
		cfg.AttemptConnection = func(ctx context.Context, c autopaho.ClientConfig, u *url.URL) (net.Conn, error) {
			raw, err := dial(ctx, "tcp", u.Host)
			if err != nil {
				return nil, err
			}
			tc := c.TlsCfg.Clone()
			tc.ServerName, _, _ = net.SplitHostPort(u.Host)
			conn := tls.Client(raw, tc)
			if err := conn.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, err
			}
			return wrap(conn), nil
		}
	}
	a.mqtt, err = autopaho.NewConnection(ctx, cfg)
	return err
}

// phase tells the fault hook a deployment entered a phase.
func (a *Agent) phase(p string) {
	if a.cfg.OnPhase != nil {
		a.cfg.OnPhase(p)
	}
}

// Connected tells whether the MQTT connection is up.
func (a *Agent) Connected() bool { return a.linkUp.Load() }

// reconnectDelay is autopaho's wait before a connection attempt: none
// before the agent's very first, jittered (b) after a link was lost.
func (a *Agent) reconnectDelay(b backoff) func(attempt int) time.Duration {
	return func(attempt int) time.Duration {
		if attempt == 0 && !a.wasUp.Load() {
			return 0
		}
		return b.delay(attempt)
	}
}

// kickReconcile makes Run reconcile now (once, however often it is
// kicked before it gets to it).
func (a *Agent) kickReconcile() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// receiveMaximum is how many QoS 1 messages from the server a device takes
// unacknowledged (MQTT 5, 3.1.2.11.3).
const receiveMaximum = 16

func (a *Agent) path(parts ...string) string {
	return filepath.Join(append([]string{a.cfg.DataDir}, parts...)...)
}

// PublishResult queues a result as if a component had published it on the
// local IPC endpoint (the fleet simulator's synthetic stream); false if
// the agent is not running or its queue did not take it.
func (a *Agent) PublishResult(component string, payload []byte) bool {
	return a.running.Load() && a.takeResult(component, payload)
}

// newMsgID is a unique, time-ordered message id.
func newMsgID() string {
	return ulid.Make().String()
}
