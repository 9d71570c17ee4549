package quality

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vise-edge/vise"
)

// metrics are the monitor's Prometheus series, labelled by device and
// model (NAME@VERSION).
type metrics struct {
	drifting *prometheus.GaugeVec
	measures *prometheus.GaugeVec
}

func newMetrics(r prometheus.Registerer) *metrics {
	m := &metrics{
		drifting: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vise_model_quality_drift",
			Help: "1 while a device's model-quality window departs from the model version's canary baseline by more than the margin."},
			[]string{"device", "model"}),
		measures: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vise_model_quality_window",
			Help: "A device's model-quality figures over the last window: defect_rate, mean_top_confidence, uncertain_share."},
			[]string{"device", "model", "measure"}),
	}
	if r != nil {
		r.MustRegister(m.drifting, m.measures)
	}
	return m
}

func (m *metrics) window(device, model string, s vise.QualityStats) {
	m.measures.WithLabelValues(device, model, "defect_rate").Set(s.DefectRate)
	m.measures.WithLabelValues(device, model, "uncertain_share").Set(s.UncertainShare)
	if s.MeanTopConfidence != nil {
		m.measures.WithLabelValues(device, model, "mean_top_confidence").Set(*s.MeanTopConfidence)
	}
}

func (m *metrics) drift(device, model string, drifting bool) {
	v := 0.0
	if drifting {
		v = 1
	}
	m.drifting.WithLabelValues(device, model).Set(v)
}
