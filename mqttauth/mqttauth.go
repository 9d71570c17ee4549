// Package mqttauth is the one mochi-mqtt hook that decides who may connect
// to a broker and which topics a client may touch. The device broker
// (package broker) and a device's local IPC endpoint (package localipc)
// each give it their own rules; the hook supplies what both need the same
// way: the server's own in-process client passes, and every refusal is
// logged with the client's id and address, counted, and answered with the
// CONNACK code that tells the client what to do: "bad user name or
// password" when it may not connect, "server unavailable" when the broker
// could not decide now (try again later).
package mqttauth

import (
	"log/slog"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Denial is why a client may not connect.
type Denial struct {
	Reason string // a short label for counting ("client_id", "unauthorized")
	Msg    string // for the log
	Attrs  []any  // more log attributes
	// Unavailable: the decision could not be made now (the database did
	// not answer in time); the client is told the server is unavailable,
	// not that its identity is refused.
	Unavailable bool
}

// Rules are a broker's own decisions.
type Rules struct {
	ID     string       // the hook's id in mochi
	Name   string       // how the log names the broker ("MQTT", "local IPC")
	Server *mqtt.Server // the broker the hook is added to (it answers refusals)
	Log    *slog.Logger
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
	// passed holds the clients OnConnect let through, until their
	// OnConnectAuthenticate: a client that did not pass OnConnect is
	// refused there too.
	passed sync.Map // *mqtt.Client → struct{}
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
func Provided(b byte) bool {
	return b == mqtt.OnConnect || b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// OnConnect applies the connection rule. It decides here rather than in
// OnConnectAuthenticate, where mochi answers every refusal "bad user name
// or password", so that a client the broker could not judge now is told to
// come back rather than that it is refused. A hook that embeds Hook and has
// its own OnConnect calls this one last.
func (h *Hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	if cl.Net.Inline {
		return nil
	}
	d := h.r.Connect(cl, pk)
	if d == nil {
		h.passed.Store(cl, struct{}{})
		return nil
	}
	h.r.Denied(d.Reason)
	h.r.Log.Warn(h.r.Name+" connection refused: "+d.Msg, append([]any{"client_id", cl.ID, "remote", cl.Net.Remote}, d.Attrs...)...)
	code := packets.ErrBadUsernameOrPassword // [MQTT-3.2.2-8]
	if d.Unavailable {
		code = packets.ErrServerUnavailable
	}
	h.r.Server.SendConnack(cl, code, false, nil)
	return code
}

func (h *Hook) OnConnectAuthenticate(cl *mqtt.Client, _ packets.Packet) bool {
	if cl.Net.Inline {
		return true
	}
	_, ok := h.passed.LoadAndDelete(cl)
	return ok
}

func (h *Hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline || h.r.Topic(cl, topic, write) {
		return true
	}
	h.r.Denied("acl")
	h.r.Log.Warn(h.r.Name+" topic refused", "client_id", cl.ID, "user", string(cl.Properties.Username), "topic", topic, "write", write)
	return false
}
