package ingest

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vise-edge/vise/deviceapi"
)

// compat counts device messages that carry fields this server does not
// know, or a newer schema: they are stored as sent and used for what is
// understood, never refused for being newer. The first of each kind is
// logged once, so a fleet of newer agents does not flood the log.
type compat struct {
	unknown, newer *prometheus.CounterVec
	mu             sync.Mutex
	logged         map[string]bool
}

func newCompat() *compat {
	return &compat{
		unknown: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vise_device_messages_unknown_fields_total",
			Help: "Device messages with fields this server does not know (ignored, the message kept), by kind."}, []string{"kind"}),
		newer: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vise_device_messages_newer_schema_total",
			Help: "Device messages of a newer schema than this server knows (what it understands is used), by kind."}, []string{"kind"}),
		logged: map[string]bool{},
	}
}

func (c *compat) note(in *Ingester, kind, device string, info deviceapi.Info) {
	if info.Unknown != "" {
		c.unknown.WithLabelValues(kind).Inc()
		c.once(in, kind+" unknown", "a device sends fields this server does not know; they are kept as sent and otherwise ignored (logged once, counted in vise_device_messages_unknown_fields_total)",
			"kind", kind, "device", device, "field", info.Unknown)
	}
	if info.Newer {
		c.newer.WithLabelValues(kind).Inc()
		c.once(in, kind+" newer", "a device sends a newer message schema than this server knows; what it understands is used (logged once, counted in vise_device_messages_newer_schema_total); upgrade the server",
			"kind", kind, "device", device)
	}
}

func (c *compat) once(in *Ingester, key, msg string, args ...any) {
	c.mu.Lock()
	first := !c.logged[key]
	c.logged[key] = true
	c.mu.Unlock()
	if first {
		in.log.Warn(msg, args...)
	}
}
