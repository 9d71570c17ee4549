package server

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/httpapi"
)

// startDevices starts what devices talk to: the MQTT broker (or the
// connection to an external one) and the HTTPS API, both on TLS with
// certificates from the device CA.
func (s *Server) startDevices() error {
	cert, err := s.CA.ServerCert(s.cfg.Hosts)
	if err != nil {
		return err
	}
	if err := s.startBroker(cert); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.DeviceListen)
	if err != nil {
		return vise.Errorf(vise.CodeUnavailable, "cannot listen on %s: %w; pick another address with --device-listen", s.cfg.DeviceListen, err)
	}
	s.deviceLn = ln
	api := httpapi.NewDevice(httpapi.DeviceOptions{
		Options: httpapi.Options{Registry: s.Registry, Fleet: s.Fleet, Store: s.Store,
			Logger: s.log.With("part", "device-api"), Metrics: s.metrics},
		CAPEM: s.CA.CertPEM(), MQTTAddr: s.Broker.Addr, Repo: s.Release,
	})
	// Client certificates are optional at the TLS layer because enrollment
	// comes without one; every other route requires a verified one.
	httpTLS := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs: s.CA.Pool(), MinVersion: tls.VersionTLS12}
	// IdleTimeout: a device's next request is minutes away (its reconcile
	// tick); an idle connection kept open costs the server its TLS
	// buffers and a goroutine, times the fleet.
	s.deviceSrv = &http.Server{Handler: api, TLSConfig: httpTLS, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	s.wg.Go(func() {
		if err := s.deviceSrv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("device API stopped", "err", err)
		}
	})
	return nil
}

// DeviceURL is the base URL of the device-facing HTTPS API.
func (s *Server) DeviceURL() string { return "https://" + s.deviceLn.Addr().String() }

// MQTTAddr is where devices connect to the broker.
func (s *Server) MQTTAddr() string { return s.Broker.Addr() }

// announce tells a deployment's devices about it on their topic, once it
// is signed. Retained, so a device that was offline gets it on reconnect;
// the agent asks the server on every reconnect and reconcile tick, which
// covers an announcement a restarted broker lost.
func (s *Server) announce(d *vise.Deployment) {
	if s.Broker == nil {
		return
	}
	msg, _ := json.Marshal(map[string]string{"id": d.ID})
	go func() { // an external broker acknowledges each; the request need not wait
		for _, dd := range d.Devices {
			if s.stopCtx.Err() != nil {
				return
			}
			if err := s.Broker.Publish(deviceapi.DeploymentsTopic(dd.Device), msg, true, 1); err != nil {
				s.log.Warn("announce deployment", "device", dd.Device, "err", err)
			}
		}
	}()
}

func defaultHosts() []string {
	hosts := []string{"127.0.0.1", "::1", "localhost"}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	return hosts
}
