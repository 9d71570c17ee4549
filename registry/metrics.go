package registry

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the registry's Prometheus series.
type Metrics struct {
	uploadedBytes    prometheus.Counter
	uploadsRejected  prometheus.Counter
	modelsRegistered prometheus.Counter
	modelsRejected   prometheus.Counter
}

// NewMetrics makes the series and registers them with reg if it is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		uploadedBytes:    prometheus.NewCounter(prometheus.CounterOpts{Name: "vise_artifact_upload_bytes_total", Help: "Bytes of artifacts accepted."}),
		uploadsRejected:  prometheus.NewCounter(prometheus.CounterOpts{Name: "vise_artifact_uploads_rejected_total", Help: "Uploads refused (truncated, corrupted, too large)."}),
		modelsRegistered: prometheus.NewCounter(prometheus.CounterOpts{Name: "vise_model_versions_registered_total", Help: "Model versions registered."}),
		modelsRejected:   prometheus.NewCounter(prometheus.CounterOpts{Name: "vise_model_registrations_refused_total", Help: "Registrations refused because the file is not a usable ONNX model."}),
	}
	if reg != nil {
		reg.MustRegister(m.uploadedBytes, m.uploadsRejected, m.modelsRegistered, m.modelsRejected)
	}
	return m
}
