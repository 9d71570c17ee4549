// Package ingest takes what devices publish — inference results and status
// reports — at the server's door: it holds each message to the bounds of
// limits.go, stores it, and tells the broker whether it may acknowledge it.
// A message is acknowledged only once it is stored (or refused for good),
// so a database or blob store outage leaves results in the devices'
// outboxes instead of losing them.
package ingest

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// Blobs is where result images go.
type Blobs interface {
	Put(ctx context.Context, r io.Reader, size int64, sha string) (vise.Artifact, error)
}

// Options configure an Ingester; Context, Store and Blobs are required.
type Options struct {
	// Context ends with the server: what is being stored then is not
	// acknowledged, and so comes again.
	Context context.Context
	Store   *store.Store
	Blobs   Blobs
	// Wake is told of each deployment a device reported on (the pipeline
	// steps waiting on it); optional.
	Wake func(ctx context.Context, deployment string)
	// Timeout bounds storing one message; default 10 s.
	Timeout time.Duration
	Logger  *slog.Logger          // default: discard
	Metrics prometheus.Registerer // optional
}

// Ingester is safe for concurrent use.
type Ingester struct {
	ctx     context.Context
	store   *store.Store
	blobs   Blobs
	wake    func(ctx context.Context, deployment string)
	timeout time.Duration
	log     *slog.Logger
	m       metrics
}

type metrics struct {
	results, images, status, refused *prometheus.CounterVec
}

// New makes an Ingester.
func New(opts Options) *Ingester {
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := metrics{
		results: counter("vise_results_total", "Inference results received from devices, by outcome (stored, duplicate, refused, unavailable: not acknowledged, sent again).", "outcome"),
		images:  counter("vise_result_images_total", "Images attached to results: stored, or why not.", "outcome"),
		status:  counter("vise_status_total", "Deployment progress reports from devices recorded.", "outcome"),
		refused: counter("vise_device_messages_refused_total", "Device messages refused at the door, by kind and the rule they broke.", "kind", "rule"),
	}
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(m.results, m.images, m.status, m.refused)
	}
	return &Ingester{ctx: opts.Context, store: opts.Store, blobs: opts.Blobs, wake: opts.Wake, timeout: opts.Timeout, log: opts.Logger, m: m}
}

// refused counts and logs a message that broke a rule; it is acknowledged
// and dropped, since sending it again cannot help.
func (in *Ingester) refused(kind, rule string, args ...any) {
	in.m.refused.WithLabelValues(kind, rule).Inc()
	if kind == "result" {
		in.m.results.WithLabelValues("refused").Inc()
	}
	in.log.Warn(kind+" refused: "+rule, args...)
}
