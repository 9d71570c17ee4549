// Package localipc is a device's local IPC endpoint: an MQTT broker on
// loopback that components (vise-infer and others) publish their results,
// verdicts and health to, with a per-start token and a per-component ACL.
// It keeps the embedded broker library behind this package's small API,
// so the agent does not depend on it directly.
package localipc

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/mqttauth"
)

// Server is the local IPC endpoint. A component connects with username
// = its name and password = VISE_IPC_TOKEN, and may publish only
//
//	results/<component>   inference results, forwarded to the server
//	verdicts/<component>  pass/reject verdicts, forwarded to the server
//	status/<component>    {"ready": true, "state": "degraded", ...}, read by
//	                      the agent and reported with the device's status
//	trigger/<any>         {"part_id": ...}: asks a component for one frame
//
// and subscribe only to trigger/<component>. Everything it publishes on
// results/ and verdicts/ goes through the durable outbox.
type Server struct {
	srv   *mqtt.Server
	tcp   *listeners.TCP
	token string
}

// Handler takes a message a component published on its own topic.
type Handler func(component string, payload []byte)

// Start serves the endpoint on listen ("127.0.0.1:0": a free port) and
// hands each component's results, verdicts and status reports to the
// handlers, on the publishing client's goroutine.
func Start(listen string, log *slog.Logger, onResult, onVerdict, onStatus Handler) (*Server, error) {
	i := &Server{token: rand.Text()}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = 8 << 20
	i.srv = mqtt.New(&mqtt.Options{InlineClient: true, Capabilities: caps, Logger: log.With("part", "ipc")})
	if err := i.srv.AddHook(mqttauth.New(mqttauth.Rules{ID: "vise-ipc-auth", Name: "local IPC", Server: i.srv, Log: log,
		Connect: ipcConnect(i.token), Topic: ipcTopic}), nil); err != nil {
		return nil, err
	}
	i.tcp = listeners.NewTCP(listeners.Config{ID: "ipc", Address: listen})
	if err := i.srv.AddListener(i.tcp); err != nil {
		return nil, fmt.Errorf("local IPC listener on %s: %w", listen, err)
	}
	if err := i.srv.Serve(); err != nil {
		return nil, err
	}
	sub := func(filter string, id int, fn Handler) error {
		return i.srv.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
			fn(pk.TopicName[strings.LastIndex(pk.TopicName, "/")+1:], pk.Payload)
		})
	}
	if err := sub("results/+", 1, onResult); err != nil {
		return nil, err
	}
	if err := sub("status/+", 2, onStatus); err != nil {
		return nil, err
	}
	if err := sub("verdicts/+", 3, onVerdict); err != nil {
		return nil, err
	}
	return i, nil
}

// Addr is what components get as VISE_IPC.
func (i *Server) Addr() string { return i.tcp.Address() }

// Token is what components get as VISE_IPC_TOKEN, their password.
func (i *Server) Token() string { return i.token }

// Close stops the endpoint and disconnects every component.
func (i *Server) Close() error { return i.srv.Close() }

// ipcConnect lets in a component that names itself and knows the token.
func ipcConnect(token string) func(*mqtt.Client, packets.Packet) *mqttauth.Denial {
	return func(_ *mqtt.Client, pk packets.Packet) *mqttauth.Denial {
		if subtle.ConstantTimeCompare(pk.Connect.Password, []byte(token)) == 1 && len(pk.Connect.Username) > 0 {
			return nil
		}
		return &mqttauth.Denial{Reason: "token", Msg: "wrong token or no component name"}
	}
}

// ipcTopic is the per-component ACL in Server's comment.
func ipcTopic(cl *mqtt.Client, topic string, write bool) bool {
	user := string(cl.Properties.Username)
	switch {
	case write && (topic == deviceapi.IPCResultTopic(user) || topic == deviceapi.IPCStatusTopic(user) || topic == deviceapi.IPCVerdictTopic(user)):
		return true
	case write && strings.HasPrefix(topic, deviceapi.IPCTriggerTopic("")) && !strings.ContainsAny(topic[len(deviceapi.IPCTriggerTopic("")):], "/+#"):
		return true // a line-side component triggers an inspecting one
	case !write && topic == deviceapi.IPCTriggerTopic(user):
		return true
	}
	return false
}
