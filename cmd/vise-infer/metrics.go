package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vise-edge/vise/source"
)

// This file serves the runner's counters as Prometheus metrics
// (--metrics ADDR, component setting "metrics"), read at scrape time from
// the same counters the component status reports, so the two agree.

var (
	descFramesRead  = prometheus.NewDesc("vise_infer_frames_read_total", "Frames read from the camera (the current source; a folder counts its images).", nil, nil)
	descDropped     = prometheus.NewDesc("vise_infer_frames_dropped_total", "Camera frames dropped because a newer one arrived before the model was free (newest frame wins).", nil, nil)
	descResults     = prometheus.NewDesc("vise_infer_results_total", "Results produced, errors included.", nil, nil)
	descErrors      = prometheus.NewDesc("vise_infer_errors_total", "Results with an error (a frame or image that could not be inspected).", nil, nil)
	descRejects     = prometheus.NewDesc("vise_infer_rejects_total", "Reject verdicts.", nil, nil)
	descReconnects  = prometheus.NewDesc("vise_infer_source_reconnects_total", "Camera reconnects (the current source).", nil, nil)
	descSourceState = prometheus.NewDesc("vise_infer_source_state", "1 for the camera's current state, 0 for the others.", []string{"state"}, nil)
	descDelivered   = prometheus.NewDesc("vise_infer_output_delivered_total", "Verdicts an output delivered.", []string{"output", "type"}, nil)
	descUndelivered = prometheus.NewDesc("vise_infer_output_undelivered_total", "Verdicts an output could not deliver (down, refused, or its queue full).", []string{"output", "type"}, nil)
	descOutputUp    = prometheus.NewDesc("vise_infer_output_up", "1 when the output's last delivery worked.", []string{"output", "type"}, nil)
)

var sourceStates = []string{source.StateConnecting, source.StateStreaming, source.StateDegraded}

// runnerCollector reads the runner's counters when scraped.
type runnerCollector struct{ r *runner }

func (c runnerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFramesRead, descDropped, descResults, descErrors, descRejects, descReconnects,
		descSourceState, descDelivered, descUndelivered, descOutputUp} {
		ch <- d
	}
}

func (c runnerCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v bool, labels ...string) {
		f := 0.0
		if v {
			f = 1
		}
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, f, labels...)
	}
	read := r.counts.images.Load()
	if s := r.sourceStatus(); s != nil {
		read = s.Frames
		counter(descReconnects, s.Reconnects)
		for _, st := range sourceStates {
			gauge(descSourceState, s.State == st, st)
		}
	}
	counter(descFramesRead, read)
	counter(descDropped, r.counts.dropped.Load())
	counter(descResults, r.counts.images.Load())
	counter(descErrors, r.counts.errors.Load())
	counter(descRejects, r.counts.rejects.Load())
	for i, o := range r.outputs {
		st, name := o.Status(), r.outputNames[i]
		counter(descDelivered, st.Delivered, name, st.Type)
		counter(descUndelivered, st.Undelivered, name, st.Type)
		gauge(descOutputUp, st.Up, name, st.Type)
	}
}

// serveMetrics listens on addr and serves /metrics until the returned
// function is called. An address it cannot listen on is refused at start.
func (r *runner) serveMetrics(addr string) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: metrics listener: %w (pass another --metrics address, e.g. 127.0.0.1:9464)", errUsage, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(runnerCollector{r})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			r.log.Error("metrics listener stopped", "addr", addr, "err", err)
		}
	}()
	r.log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { srv.Close(); <-done }, nil
}
