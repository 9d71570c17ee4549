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
	// Timeout bounds storing one message, and one batch; default 10 s.
	Timeout time.Duration
	// MaxBatch is the most results, and the most status reports, stored
	// in one transaction; default 2,000 (a fleet's in-flight results in a
	// few commits: the commit, its fsync and the index pages it writes are
	// shared by more rows).
	MaxBatch int
	// DeviceRate is the results a second one device may send, DeviceBurst
	// how many at once; beyond them a result is answered "over quota" and
	// comes again later. Zero: DefaultDeviceRate and DefaultDeviceBurst; a
	// negative rate: no limit.
	DeviceRate  float64
	DeviceBurst int
	Now         func() time.Time      // default time.Now
	Logger      *slog.Logger          // default: discard
	Metrics     prometheus.Registerer // optional
}

// Ingester is safe for concurrent use. It owns the goroutines that write
// results (batch.go) and status reports (status_batch.go), which end with Options.Context or Close.
type Ingester struct {
	ctx     context.Context
	cancel  context.CancelFunc
	queue   chan *pending
	stopped chan struct{}
	// statusQueue and statusStopped are the status writer's
	// (status_batch.go).
	statusQueue   chan *statusPending
	statusStopped chan struct{}
	maxBatch      int
	rates         *deviceRates // nil: no limit
	store         *store.Store
	blobs         Blobs
	wake          func(ctx context.Context, deployment string)
	timeout       time.Duration
	log           *slog.Logger
	m             metrics
	compat        *compat
}

type metrics struct {
	results, images, status, refused, batches *prometheus.CounterVec
	batchSize, batchSeconds, statusBatch      prometheus.Histogram
	committing                                prometheus.Gauge
}

// New makes an Ingester and starts its writer.
func New(opts Options) *Ingester {
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = 2000
	}
	if opts.DeviceRate == 0 {
		opts.DeviceRate = DefaultDeviceRate
	}
	if opts.DeviceBurst == 0 {
		opts.DeviceBurst = DefaultDeviceBurst
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := metrics{
		results: counter("vise_results_total", "Inference results received from devices, by outcome (stored, duplicate, refused; unavailable and over_quota: not acknowledged, sent again).", "outcome"),
		images:  counter("vise_result_images_total", "Images attached to results: stored, or why not.", "outcome"),
		status:  counter("vise_status_total", "Deployment progress reports from devices recorded.", "outcome"),
		refused: counter("vise_device_messages_refused_total", "Device messages refused at the door, by kind and the rule they broke.", "kind", "rule"),
		batches: counter("vise_result_batches_total", "Transactions that stored results (stored) or failed (failed: their results are not acknowledged).", "outcome"),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vise_result_batch_size", Help: "Results per transaction.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vise_result_batch_seconds", Help: "Time to store one batch of results.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		statusBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vise_status_batch_size", Help: "Status reports per transaction (its count: the transactions).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10)}),
		committing: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vise_results_committing",
			Help: "Results in the transaction under way (a value that stays up is a stuck database)."}),
	}
	cp := newCompat()
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(m.results, m.images, m.status, m.refused, m.batches, m.batchSize, m.batchSeconds, m.statusBatch, m.committing, cp.unknown, cp.newer)
	}
	ctx, cancel := context.WithCancel(opts.Context)
	in := &Ingester{ctx: ctx, cancel: cancel, queue: make(chan *pending, opts.MaxBatch), stopped: make(chan struct{}), maxBatch: opts.MaxBatch,
		statusQueue: make(chan *statusPending, opts.MaxBatch), statusStopped: make(chan struct{}),
		store: opts.Store, blobs: opts.Blobs, wake: opts.Wake, timeout: opts.Timeout, log: opts.Logger, m: m, compat: cp}
	if opts.DeviceRate > 0 {
		in.rates = newDeviceRates(opts.DeviceRate, opts.DeviceBurst, opts.Now)
	}
	go in.write()
	go in.writeStatuses()
	return in
}

// Close stops the writer and waits for it. Results not yet stored are not
// acknowledged, so their devices send them again.
func (in *Ingester) Close() error {
	in.cancel()
	<-in.stopped
	<-in.statusStopped
	return nil
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
