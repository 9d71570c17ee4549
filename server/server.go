// Package server wires the control plane together — store, blob store,
// release signing, registry, fleet and the HTTP API — into one type that
// `vise server` runs and tests start on port 0.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/blobs"
	"github.com/vise-edge/vise/broker"
	"github.com/vise-edge/vise/datasets"
	"github.com/vise-edge/vise/fleet"
	"github.com/vise-edge/vise/httpapi"
	"github.com/vise-edge/vise/ingest"
	"github.com/vise-edge/vise/labels"
	"github.com/vise-edge/vise/pipeline"
	"github.com/vise-edge/vise/pki"
	"github.com/vise-edge/vise/quality"
	"github.com/vise-edge/vise/registry"
	"github.com/vise-edge/vise/release"
	"github.com/vise-edge/vise/store"
	"github.com/vise-edge/vise/train"
	"github.com/vise-edge/vise/users"
	"github.com/vise-edge/vise/web"
)

// Config is what `vise server` takes on its command line.
type Config struct {
	Listen    string // default "127.0.0.1:8420"; ":0" picks a free port
	DataDir   string // required: database, blobs, signing keys, admin token
	DB        string // default: SQLite file <DataDir>/vise.db; or postgres://...
	Blobs     string // default: directory <DataDir>/blobs; or s3://...
	MaxUpload int64  // default blobs.DefaultMaxSize
	// DeviceListen is the device-facing HTTPS API (enrollment, deployments,
	// signed targets); default "127.0.0.1:8443".
	DeviceListen string
	// MQTTListen is the embedded broker's mutual-TLS listener; default
	// "127.0.0.1:8883".
	MQTTListen string
	// MQTTBroker, if set (mqtts://host:port), is an external broker the
	// server connects to as a client instead of running the embedded one;
	// see server/mqtt.go and the README's "External MQTT broker".
	MQTTBroker string
	// MQTTCA is a PEM file with the CA of the external broker's
	// certificate; default the device CA.
	MQTTCA string
	// MQTTPublicAddr is the external broker's host:port as devices reach
	// it; default the host:port of MQTTBroker.
	MQTTPublicAddr string
	// MQTTClientID names this replica at the external broker: unique per
	// replica, stable across restarts; default "vise:server:<host name>".
	MQTTClientID string
	// MQTTCRL, with an external broker, is the file the server keeps the
	// device CA's certificate revocation list in (PEM, mode 0644): the
	// broker's crlfile. Written at start, on every revoke and daily.
	MQTTCRL string
	// MQTTReloadCommand runs after each write of MQTTCRL to have the
	// broker read it, e.g. "systemctl reload mosquitto". It is split at
	// spaces and run without a shell (no quotes, no $VARS: put more in a
	// script). Without it, revoking tells the operator to reload.
	MQTTReloadCommand string
	// MQTTCRLCheck is how often the server compares the revoked
	// certificates in the database with MQTTCRL, to pick up a revoke
	// through another replica; default 1 min.
	MQTTCRLCheck time.Duration
	// MQTTConnectTimeout bounds the wait for the external broker at start;
	// default 15 s.
	MQTTConnectTimeout time.Duration
	// Hosts are the names and addresses devices use to reach this server,
	// written into its certificate; default loopback and the host name.
	Hosts []string
	// DeviceResultRate and DeviceResultBurst hold each device to its own
	// result rate on the embedded broker (see ingest.Options.DeviceRate);
	// zero: ingest.DefaultDeviceRate and DefaultDeviceBurst, a negative
	// rate: no limit. An external broker's messages are not limited: they
	// arrive in one stream, where holding one back holds back all.
	DeviceResultRate  float64
	DeviceResultBurst int
	// ResultsRetention is how long inference results are kept; default 30
	// days. (Their images stay in the blob store.)
	ResultsRetention time.Duration
	// LabelUncertain is the top-confidence window that makes an image
	// uncertain in the labelling queue, "LO-HI" or "off"; default
	// "0.25-0.6" (see labels.ParseWindow).
	LabelUncertain string
	// QualityWindow and QualityStep are model-quality monitoring's sliding
	// window and its step; QualityMargin is how far a window may depart
	// from its canary baseline ("defect_rate=0.15,top_confidence=0.1,
	// uncertain=0.15"); QualityMinFrames the fewest frames judged. Zero
	// values take quality.Options' defaults.
	QualityWindow, QualityStep time.Duration
	QualityMargin              string
	QualityMinFrames           int64
	// Gate is the quality gate for model registrations, e.g.
	// "map50>=0.6"; AutoApprove approves versions that pass it.
	Gate        string
	AutoApprove bool
	// PipelinePoll and PipelineRescueAfter tune the pipeline engine (see
	// pipeline.Options); zero means its defaults.
	PipelinePoll        time.Duration
	PipelineRescueAfter time.Duration
	// Training, with Script and Infer set, makes this server train: the
	// retrain pipeline's steps run train.py and vise-infer here. Its
	// Python modules are checked at start.
	Training train.Config
	Logger   *slog.Logger
}

// DefaultListen is where the server listens and the CLI looks by default.
const DefaultListen = "127.0.0.1:8420"

// AdminTokenFile is the file in the data directory that holds the first
// admin token, readable by the owner only.
const AdminTokenFile = "admin.token"

func (c *Config) setDefaults() error {
	if c.DataDir == "" {
		return vise.Errorf(vise.CodeInvalid, "no data directory: pass --data DIR")
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.DB == "" {
		c.DB = filepath.Join(c.DataDir, "vise.db")
	}
	if c.Blobs == "" {
		c.Blobs = filepath.Join(c.DataDir, "blobs")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DeviceListen == "" {
		c.DeviceListen = "127.0.0.1:8443"
	}
	if c.MQTTListen == "" {
		c.MQTTListen = "127.0.0.1:8883"
	}
	if len(c.Hosts) == 0 {
		c.Hosts = defaultHosts()
	}
	if c.MQTTCRL != "" && c.MQTTBroker == "" {
		return vise.Errorf(vise.CodeInvalid, "--mqtt-crl is for an external broker's crlfile: pass --mqtt-broker too (the embedded broker refuses revoked devices itself)")
	}
	if c.MQTTReloadCommand != "" && c.MQTTCRL == "" {
		return vise.Errorf(vise.CodeInvalid, "--mqtt-reload-command runs after the server writes the CRL: pass --mqtt-crl FILE too")
	}
	if c.MQTTCRLCheck == 0 {
		c.MQTTCRLCheck = time.Minute
	}
	if c.ResultsRetention == 0 {
		c.ResultsRetention = 30 * 24 * time.Hour
	}
	return nil
}

// Server is the running control plane.
type Server struct {
	cfg      Config
	log      *slog.Logger
	Store    *store.Store
	Blobs    *blobs.Store
	Release  *release.Repo
	Registry *registry.Registry
	Fleet    *fleet.Fleet
	Pipeline *pipeline.Engine
	Users    *users.Service
	Labels   *labels.Service
	Datasets *datasets.Service
	Quality  *quality.Monitor
	CA       *pki.CA
	Broker   broker.Broker
	metrics  *prometheus.Registry
	crl      *crlFile // nil without --mqtt-crl

	httpSrv   *http.Server
	ln        net.Listener
	deviceSrv *http.Server
	deviceLn  net.Listener
	stopCtx   context.Context
	ingest    *ingest.Ingester
	// revokedDropped counts messages of revoked devices dropped (external broker).
	revokedDropped prometheus.Counter
	cancel         context.CancelFunc
	wg             sync.WaitGroup
	token          string

	pipelineStarted bool
}

// New opens everything the server needs. On error, what was opened is
// closed again.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := prepareDataDir(cfg.DataDir, cfg.Logger); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: prometheus.NewRegistry()}
	s.stopCtx, s.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if s.Store, err = store.Open(ctx, store.Options{URL: cfg.DB, Logger: s.log.With("part", "store")}); err != nil {
		return nil, err
	}
	if s.Blobs, err = blobs.Open(ctx, cfg.Blobs, cfg.MaxUpload); err != nil {
		return nil, err
	}
	if s.Release, err = release.Open(release.Options{Dir: filepath.Join(cfg.DataDir, "release"), Logger: s.log.With("part", "release")}); err != nil {
		return nil, err
	}
	gate, err := registry.ParseGate(cfg.Gate)
	if err != nil {
		return nil, err
	}
	s.Registry = registry.New(registry.Options{Store: s.Store, Blobs: s.Blobs, Signer: s.Release, Logger: s.log.With("part", "registry"),
		Metrics: registry.NewMetrics(s.metrics), Gate: gate, AutoApprove: cfg.AutoApprove})
	if s.CA, err = pki.Open(filepath.Join(cfg.DataDir, "pki"), nil); err != nil {
		return nil, err
	}
	if cfg.MQTTCRL != "" {
		s.crl = newCRLFile(cfg, s.CA, s.Store, s.log.With("part", "crl"))
	}
	s.Fleet = fleet.New(fleet.Options{Store: s.Store, Signer: s.Release, CA: s.CA, Logger: s.log.With("part", "fleet"),
		OnRevoke: s.onRevoke, Announce: s.announce})
	s.Users = users.New(users.Options{Store: s.Store, Logger: s.log.With("part", "users"), Metrics: s.metrics})
	if cfg.Training.Script != "" {
		if cfg.Training.Infer == "" {
			return nil, vise.Errorf(vise.CodeInvalid, "--trainer needs --vise-infer too: trained models are evaluated with vise-infer eval (make build makes bin/vise-infer)")
		}
		if err := train.Check(ctx, cfg.Training, train.Modules); err != nil {
			return nil, fmt.Errorf("--trainer: %w", err)
		}
	}
	window, err := labels.ParseWindow(cfg.LabelUncertain)
	if err != nil {
		return nil, err
	}
	s.Labels = labels.New(labels.Options{Store: s.Store, Blobs: s.Registry, Uncertain: window, Logger: s.log.With("part", "labels")})
	s.Datasets = datasets.New(s.Store, s.Blobs, s.log.With("part", "datasets"))
	if s.Quality, err = newQuality(cfg, s.Store, window, s.metrics, s.log.With("part", "quality")); err != nil {
		return nil, err
	}
	if s.Pipeline, err = pipeline.New(ctx, pipeline.Options{Store: s.Store, Registry: s.Registry, Fleet: s.Fleet, Datasets: s.Datasets,
		Logger: s.log.With("part", "pipeline"), Poll: cfg.PipelinePoll, RescueAfter: cfg.PipelineRescueAfter,
		Training: cfg.Training, WorkDir: filepath.Join(cfg.DataDir, "training")}); err != nil {
		return nil, err
	}
	if err := s.republish(ctx); err != nil {
		return nil, err
	}
	if s.token, err = s.ensureAdminToken(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// republish re-signs the full target set from the database, so a crash
// between a commit and its signature heals at the next start.
func (s *Server) republish(ctx context.Context) error {
	targets, err := s.Registry.ReleaseTargets(ctx)
	if err != nil {
		return err
	}
	deployments, err := s.Fleet.ReleaseTargets(ctx)
	if err != nil {
		return err
	}
	if err := s.Release.Publish(append(targets, deployments...)); err != nil {
		return fmt.Errorf("publish release metadata: %w", err)
	}
	return nil
}

// ensureAdminToken creates the first admin token on first start and writes
// it to the data directory (mode 0600). The token itself is never logged.
func (s *Server) ensureAdminToken(ctx context.Context) (string, error) {
	path := filepath.Join(s.cfg.DataDir, AdminTokenFile)
	n, err := s.Store.CountTokens(ctx)
	if err != nil {
		return "", err
	}
	if n > 0 {
		b, _ := os.ReadFile(path)
		return string(b), nil
	}
	token := "vise_" + rand.Text()
	if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	if _, err := s.Store.CreateToken(ctx, "admin", httpapi.RoleAdmin, httpapi.HashToken(token)); err != nil {
		os.Remove(path)
		return "", err
	}
	s.log.Info("created the first admin API token", "file", path)
	return token, nil
}

// AdminToken is the first admin token, if this data directory holds it.
func (s *Server) AdminToken() string { return s.token }

// Start listens and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return vise.Errorf(vise.CodeUnavailable, "cannot listen on %s: %w; pick another address with --listen", s.cfg.Listen, err)
	}
	s.ln = ln
	dash, err := web.New(web.Options{Store: s.Store, Users: s.Users, Registry: s.Registry, Pipeline: s.Pipeline, Labels: s.Labels, Quality: s.Quality, DataDir: s.cfg.DataDir, Logger: s.log.With("part", "web")})
	if err != nil {
		return err
	}
	api := httpapi.New(httpapi.Options{Registry: s.Registry, Fleet: s.Fleet, Store: s.Store, Users: s.Users, Pipeline: s.Pipeline, Labels: s.Labels, Datasets: s.Datasets, Quality: s.Quality, Ready: s.ready, Release: s.Release.Handler(),
		Logger: s.log.With("part", "http"), Metrics: s.metrics, Dashboard: dash})
	s.httpSrv = &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	ctx := s.stopCtx
	if err := s.startCRL(ctx); err != nil {
		return err
	}
	if err := s.startDevices(); err != nil {
		return err
	}
	s.wg.Go(func() {
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	})
	s.wg.Go(func() { s.pruneResults(ctx) })
	s.wg.Go(func() { s.Quality.Run(ctx) })
	if err := s.Pipeline.Start(ctx); err != nil {
		return err
	}
	s.pipelineStarted = true
	s.wg.Go(func() {
		if err := s.Release.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("release metadata refresh stopped", "err", err)
		}
	})
	s.log.Info("vise server listening", "url", s.URL(), "device_url", s.DeviceURL(), "mqtt", s.MQTTAddr(),
		"db", s.Store.Engine(), "data", s.cfg.DataDir)
	return nil
}

// URL is the base URL clients use.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Run serves until ctx is cancelled, then shuts down.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

// Close stops serving (letting requests in flight finish for a few seconds),
// stops background work and closes the stores. Safe after a partial start.
func (s *Server) Close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, srv := range []*http.Server{s.httpSrv, s.deviceSrv} {
		if srv != nil {
			errs = append(errs, srv.Shutdown(ctx))
		}
	}
	if s.Broker != nil {
		errs = append(errs, s.Broker.Close())
	}
	if s.ingest != nil {
		errs = append(errs, s.ingest.Close()) // before the store it writes to
	}
	if s.pipelineStarted {
		errs = append(errs, s.Pipeline.Stop())
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.Blobs != nil {
		errs = append(errs, s.Blobs.Close())
	}
	if s.Store != nil {
		errs = append(errs, s.Store.Close())
	}
	return errors.Join(errs...)
}

// DataDir is where the server keeps its files.
func (s *Server) DataDir() string { return s.cfg.DataDir }
