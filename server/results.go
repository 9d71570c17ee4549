package server

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vise-edge/vise"
)

const maxResultBytes = 256 << 10

type resultMetrics struct {
	results *prometheus.CounterVec
}

func newResultMetrics(reg prometheus.Registerer) *resultMetrics {
	m := &resultMetrics{results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vise_results_total",
		Help: "Inference results received from devices, by outcome (stored, duplicate, malformed)."}, []string{"outcome"})}
	reg.MustRegister(m.results)
	return m
}

// onResult stores a device's inference result once. The device in the
// topic is the sender's own (the broker's ACL guarantees it); a payload
// claiming another device is refused.
func (s *Server) onResult(topic string, payload []byte) {
	parts := strings.Split(topic, "/") // vise/devices/<device>/inference/<component>
	if len(parts) != 5 {
		return
	}
	device, component := parts[2], parts[4]
	var msg struct {
		MsgID      string          `json:"msg_id"`
		Device     string          `json:"device"`
		Detections json.RawMessage `json:"detections"`
	}
	bad := func(why string) {
		s.resultMetrics.results.WithLabelValues("malformed").Inc()
		s.log.Warn("result refused: "+why, "device", device, "component", component, "bytes", len(payload))
	}
	if len(payload) > maxResultBytes {
		bad("too large")
		return
	}
	if err := json.Unmarshal(payload, &msg); err != nil || msg.MsgID == "" || len(msg.MsgID) > 128 {
		bad("not a JSON result with a msg_id")
		return
	}
	if msg.Device != "" && msg.Device != device {
		bad("names another device")
		return
	}
	var dets []json.RawMessage
	json.Unmarshal(msg.Detections, &dets)
	ctx, cancel := context.WithTimeout(s.stopCtx, 10*time.Second)
	defer cancel()
	inserted, err := s.Store.InsertResult(ctx, vise.Result{MsgID: msg.MsgID, Device: device, Component: component, Defects: len(dets), Payload: payload})
	switch {
	case err != nil:
		s.log.Error("store result", "device", device, "err", err)
	case inserted:
		s.resultMetrics.results.WithLabelValues("stored").Inc()
	default:
		s.resultMetrics.results.WithLabelValues("duplicate").Inc()
	}
}
