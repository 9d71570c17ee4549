package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // result images
	_ "image/png"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vise-edge/vise"
)

const maxResultBytes = 4 << 20

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
	payload, err := s.storeImage(ctx, payload)
	if err != nil {
		bad(err.Error())
		return
	}
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

// pruneResults deletes results past the retention, hourly.
func (s *Server) pruneResults(ctx context.Context) {
	for {
		n, err := s.Store.PruneResults(ctx, time.Now().Add(-s.cfg.ResultsRetention))
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("prune results", "err", err)
		case n > 0:
			s.log.Info("pruned old results", "count", n, "retention", s.cfg.ResultsRetention)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}

// storeImage moves an attached camera image (image_data) into the blob
// store, leaving its digest in the result as image.stored. Anything that is
// not a JPEG or PNG is refused with the whole message.
func (s *Server) storeImage(ctx context.Context, payload []byte) ([]byte, error) {
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(payload, &msg); err != nil {
		return nil, err
	}
	raw, ok := msg["image_data"]
	if !ok {
		return payload, nil
	}
	var data []byte
	if err := json.Unmarshal(raw, &data); err != nil || len(data) == 0 {
		return nil, fmt.Errorf("image_data is not base64")
	}
	if _, format, err := image.DecodeConfig(bytes.NewReader(data)); err != nil || (format != "jpeg" && format != "png") {
		return nil, fmt.Errorf("image_data is not a JPEG or PNG image")
	}
	a, err := s.Blobs.Put(ctx, bytes.NewReader(data), int64(len(data)), "")
	if err != nil {
		return nil, fmt.Errorf("store image: %w", err)
	}
	delete(msg, "image_data")
	var img map[string]any
	json.Unmarshal(msg["image"], &img)
	if img == nil {
		img = map[string]any{}
	}
	img["stored"] = a.SHA256
	msg["image"], _ = json.Marshal(img)
	return json.Marshal(msg)
}
