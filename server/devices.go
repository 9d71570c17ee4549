package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/broker"
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
		return vise.Errorf(vise.CodeUnavailable, "cannot listen on %s: %v; pick another address with --device-listen", s.cfg.DeviceListen, err)
	}
	s.deviceLn = ln
	api := httpapi.NewDevice(httpapi.DeviceOptions{
		Options: httpapi.Options{Registry: s.Registry, Fleet: s.Fleet, Store: s.Store, Release: s.Release.Handler(),
			Logger: s.log.With("part", "device-api"), Metrics: s.metrics},
		CAPEM: s.CA.CertPEM(), MQTTAddr: s.Broker.Addr, Root: s.Release.RootJSON,
	})
	// Client certificates are optional at the TLS layer because enrollment
	// comes without one; every other route requires a verified one.
	httpTLS := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs: s.CA.Pool(), MinVersion: tls.VersionTLS12}
	s.deviceSrv = &http.Server{Handler: api, TLSConfig: httpTLS, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	s.wg.Go(func() {
		if err := s.deviceSrv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("device API stopped", "err", err)
		}
	})
	s.wg.Go(s.announce)
	return nil
}

// DeviceURL is the base URL of the device-facing HTTPS API.
func (s *Server) DeviceURL() string { return "https://" + s.deviceLn.Addr().String() }

// MQTTAddr is where devices connect to the broker.
func (s *Server) MQTTAddr() string { return s.Broker.Addr() }

// announce tells devices about new deployments on their topic. Retained, so
// a device that was offline gets it on reconnect; the agent's periodic
// reconcile covers anything missed.
func (s *Server) announce() {
	evs, cancel := s.Store.Subscribe(256)
	go func() { <-s.stopCtx.Done(); cancel() }()
	for ev := range evs {
		if ev.Type != vise.EventDeploymentCreated {
			continue
		}
		var d vise.Deployment
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			continue
		}
		msg, _ := json.Marshal(map[string]string{"id": d.ID})
		for _, dd := range d.Devices {
			if err := s.Broker.Publish(broker.DeviceTopic(dd.Device)+"/deployments", msg, true, 1); err != nil {
				s.log.Warn("announce deployment", "device", dd.Device, "err", err)
			}
		}
	}
}

// Status is what an agent publishes on vise/devices/<device>/status.
type Status struct {
	Generation int64           `json:"generation"`
	Deployment string          `json:"deployment,omitempty"`
	State      string          `json:"state,omitempty"` // the device's state for that deployment
	Message    string          `json:"message,omitempty"`
	Components json.RawMessage `json:"components,omitempty"`
	Telemetry  json.RawMessage `json:"telemetry,omitempty"`
}

const maxStatusBytes = 64 << 10

// deviceStates are the deployment states a device may report.
var deviceStates = map[string]bool{vise.DeviceDownloading: true, vise.DeviceInstalling: true, vise.DeviceRunning: true,
	vise.DeviceFailed: true, vise.DeviceRolledBack: true, vise.DeviceSuperseded: true}

func (s *Server) onStatus(topic string, payload []byte) {
	device := strings.TrimSuffix(strings.TrimPrefix(topic, "vise/devices/"), "/status")
	var st Status
	if len(payload) > maxStatusBytes || json.Unmarshal(payload, &st) != nil {
		s.log.Warn("malformed status message dropped", "device", device, "bytes", len(payload))
		return
	}
	ctx, cancel := context.WithTimeout(s.stopCtx, 10*time.Second)
	defer cancel()
	if err := s.Store.SetDeviceStatus(ctx, device, payload, st.Generation); err != nil {
		s.log.Warn("record device status", "device", device, "err", err)
	}
	if st.Deployment != "" && deviceStates[st.State] {
		if err := s.Store.SetDeviceState(ctx, st.Deployment, device, st.State, st.Message); err != nil {
			s.log.Warn("record deployment progress", "device", device, "deployment", st.Deployment, "err", err)
		} else {
			s.Pipeline.Wake(ctx, st.Deployment)
		}
	}
}

func defaultHosts() []string {
	hosts := []string{"127.0.0.1", "::1", "localhost"}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	return hosts
}
