// Package mqttauth is the one mochi-mqtt hook that decides who may connect
// to a broker and which topics a client may touch. The device broker
// (package broker) and a device's local IPC endpoint (package localipc)
// each give it their own rules; the hook supplies what both need the same
// way: the server's own in-process client passes, and every refusal is
// logged with the client's id and address, and counted.
package mqttauth

import (
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Denial is why a client may not connect.
type Denial struct {
	Reason string // a short label for counting ("client_id", "unauthorized")
	Msg    string // for the log
	Attrs  []any  // more log attributes
}

// Rules are a broker's own decisions.
type Rules struct {
	ID   string // the hook's id in mochi
	Name string // how the log names the broker ("MQTT", "local IPC")
	Log  *slog.Logger
	// Connect returns why a client may not connect, or nil if it may.
	Connect func(cl *mqtt.Client, pk packets.Packet) *Denial
	// Topic says whether a client may publish (write) to or subscribe to
	// topic.
	Topic func(cl *mqtt.Client, topic string, write bool) bool
	// Denied counts a refusal by its reason ("acl" for a topic); may be nil.
	Denied func(reason string)
}

// Hook applies Rules. Embed it in a hook that provides more (then
// Provides must include Provided).
type Hook struct {
	mqtt.HookBase
	r Rules
}

// New is a hook for r.
func New(r Rules) *Hook {
	if r.Denied == nil {
		r.Denied = func(string) {}
	}
	return &Hook{r: r}
}

func (h *Hook) ID() string { return h.r.ID }

func (h *Hook) Provides(b byte) bool { return Provided(b) }

// Provided is what Hook handles.
func Provided(b byte) bool { return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck }

func (h *Hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if cl.Net.Inline {
		return true
	}
	d := h.r.Connect(cl, pk)
	if d == nil {
		return true
	}
	h.r.Denied(d.Reason)
	h.r.Log.Warn(h.r.Name+" connection refused: "+d.Msg, append([]any{"client_id", cl.ID, "remote", cl.Net.Remote}, d.Attrs...)...)
	return false
}

func (h *Hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline || h.r.Topic(cl, topic, write) {
		return true
	}
	h.r.Denied("acl")
	h.r.Log.Warn(h.r.Name+" topic refused", "client_id", cl.ID, "user", string(cl.Properties.Username), "topic", topic, "write", write)
	return false
}
