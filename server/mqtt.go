package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/broker"
	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/httpapi"
	"github.com/vise-edge/vise/ingest"
)

// How many results may be in the server at once before it stops reading
// more: from one device on the embedded broker (its own connection), and
// from the one connection to an external broker (all devices together).
const (
	ResultsInFlightPerDevice = 64
	ResultsInFlightExternal  = 2000
)

// startBroker starts the embedded broker, or connects to the external one
// (Config.MQTTBroker), with the ingestion subscriptions in place.
func (s *Server) startBroker(cert tls.Certificate) error {
	rate := s.cfg.DeviceResultRate
	if s.cfg.MQTTBroker != "" {
		rate = -1
	}
	s.ingest = ingest.New(ingest.Options{Context: s.stopCtx, Store: s.Store, Blobs: s.Blobs, Wake: s.Pipeline.Wake,
		DeviceRate: rate, DeviceBurst: s.cfg.DeviceResultBurst, Logger: s.log.With("part", "ingest"), Metrics: s.metrics})
	// Results are stored by group commit: the more of them reach the
	// writer together, the fewer commits (and index pages written) a
	// result costs, so they are handed over concurrently (decision 0022).
	results := broker.Subscription{Filter: deviceapi.ResultFilter, Fn: s.ingest.Result, Async: s.ingest.ResultAsync, Concurrent: ResultsInFlightPerDevice}
	subs := []broker.Subscription{{Filter: deviceapi.StatusFilter, Fn: s.ingest.Status}, results, {Filter: deviceapi.VerdictFilter, Fn: s.ingest.Verdict}}
	if s.cfg.MQTTBroker != "" {
		subs[1].Concurrent = ResultsInFlightExternal
		return s.connectExternal(subs)
	}
	mqttTLS := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: s.CA.Pool(), MinVersion: tls.VersionTLS13}
	b, err := broker.NewEmbedded(broker.Options{Listen: s.cfg.MQTTListen, TLS: mqttTLS, Logger: s.log.With("part", "broker"),
		Metrics:  s.metrics,
		Identify: func(st tls.ConnectionState) (string, string, error) { return httpapi.PeerDevice(&st) },
		Authorize: func(device, serial string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return s.Fleet.Authorize(ctx, device, serial)
		}})
	if err != nil {
		return err
	}
	s.Broker = b
	for _, sub := range subs {
		b.Add(sub)
	}
	return nil
}

// connectExternal connects to the external broker as the service user
// broker.ServerUser, with a client certificate from the device CA.
func (s *Server) connectExternal(subs []broker.Subscription) error {
	cert, err := s.CA.ClientCert(broker.ServerUser, 365*24*time.Hour)
	if err != nil {
		return err
	}
	roots := s.CA.Pool()
	if s.cfg.MQTTCA != "" {
		pemBytes, err := os.ReadFile(s.cfg.MQTTCA)
		if err != nil {
			return vise.Errorf(vise.CodeInvalid, "--mqtt-ca: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pemBytes) {
			return vise.Errorf(vise.CodeInvalid, "--mqtt-ca %s holds no PEM certificate", s.cfg.MQTTCA)
		}
	}
	var warnOnce sync.Once
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS12,
		// Devices verify the broker against the Vise CA only: say so if
		// they will not trust the certificate the server was told to.
		VerifyConnection: func(st tls.ConnectionState) error {
			if _, err := st.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: s.CA.Pool(), Intermediates: pool(st.PeerCertificates[1:])}); err != nil {
				warnOnce.Do(func() {
					s.log.Error("devices will not trust the external MQTT broker: its certificate is not issued by the Vise CA (issue one with 'vise broker cert')", "err", err)
				})
			}
			return nil
		}}
	s.revokedDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "vise_mqtt_revoked_dropped_total",
		Help: "Messages from revoked devices dropped by the server (external broker)."})
	s.metrics.MustRegister(s.revokedDropped)
	for i, sub := range subs {
		subs[i].Fn = s.dropRevoked(sub.Fn)
		if sub.Async != nil {
			subs[i].Async = s.dropRevokedAsync(sub.Async)
		}
	}
	clientID := s.cfg.MQTTClientID
	if clientID == "" {
		h, _ := os.Hostname()
		clientID = broker.ServerUser + ":" + h
	}
	e, err := broker.NewExternal(s.stopCtx, broker.ExternalOptions{URL: s.cfg.MQTTBroker, TLS: tlsCfg, ClientID: clientID,
		PublicAddr: s.cfg.MQTTPublicAddr, ConnectTimeout: s.cfg.MQTTConnectTimeout, Subscriptions: subs,
		Logger: s.log.With("part", "mqtt-external")})
	if err != nil {
		return err
	}
	s.Broker = e
	return nil
}

func pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// dropRevoked keeps a revoked device's messages out: an external broker
// keeps its connection, and admits new ones until it reloads a CRL that
// lists it (the embedded broker disconnects it).
func (s *Server) dropRevoked(fn broker.Handler) broker.Handler {
	return func(topic string, payload []byte) error {
		if s.revoked(topic) {
			return nil
		}
		return fn(topic, payload)
	}
}

// dropRevokedAsync is dropRevoked for an Async handler.
func (s *Server) dropRevokedAsync(fn broker.AsyncHandler) broker.AsyncHandler {
	return func(topic string, payload []byte, done func(error)) {
		if s.revoked(topic) {
			done(nil)
			return
		}
		fn(topic, payload, done)
	}
}

// revoked tells whether the device that published on topic is revoked, and
// counts and logs the message it sent, which is dropped.
func (s *Server) revoked(topic string) bool {
	device := deviceapi.TopicDevice(topic)
	ctx, cancel := context.WithTimeout(s.stopCtx, 5*time.Second)
	_, revoked, err := s.Store.DeviceCertificate(ctx, device)
	cancel()
	if err != nil || !revoked {
		return false
	}
	s.revokedDropped.Inc()
	s.log.Warn("message from a revoked device dropped; it is still connected to the external broker (a CRL from --mqtt-crl refuses only its next connection)", "device", device, "topic", topic)
	return true
}

// ready tells whether the server can do its work beyond its database
// (which /readyz checks itself): its broker and its blob store.
func (s *Server) ready(ctx context.Context) error {
	if err := s.BrokerReady(); err != nil {
		return err
	}
	return s.Blobs.Ping(ctx)
}

// BrokerReady tells whether the server is connected to its broker (always
// for the embedded one).
func (s *Server) BrokerReady() error {
	if r, ok := s.Broker.(interface{ Ready() error }); ok {
		return r.Ready()
	}
	if s.Broker == nil {
		return fmt.Errorf("no broker")
	}
	return nil
}
