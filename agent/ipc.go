package agent

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// The local IPC endpoint: an MQTT broker on loopback that components
// (vise-infer and others) publish to. A component connects with username
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
type ipc struct {
	srv   *mqtt.Server
	tcp   *listeners.TCP
	token string
}

func startIPC(listen string, log *slog.Logger, onResult, onVerdict, onStatus func(component string, payload []byte)) (*ipc, error) {
	i := &ipc{token: rand.Text()}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = 8 << 20
	i.srv = mqtt.New(&mqtt.Options{InlineClient: true, Capabilities: caps, Logger: log.With("part", "ipc")})
	if err := i.srv.AddHook(&ipcAuth{token: i.token, log: log}, nil); err != nil {
		return nil, err
	}
	i.tcp = listeners.NewTCP(listeners.Config{ID: "ipc", Address: listen})
	if err := i.srv.AddListener(i.tcp); err != nil {
		return nil, fmt.Errorf("local IPC listener on %s: %w", listen, err)
	}
	if err := i.srv.Serve(); err != nil {
		return nil, err
	}
	sub := func(filter string, id int, fn func(string, []byte)) error {
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
func (i *ipc) Addr() string { return i.tcp.Address() }

func (i *ipc) Close() error { return i.srv.Close() }

type ipcAuth struct {
	mqtt.HookBase
	token string
	log   *slog.Logger
}

func (h *ipcAuth) ID() string { return "vise-ipc-auth" }

func (h *ipcAuth) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (h *ipcAuth) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if cl.Net.Inline {
		return true
	}
	ok := subtle.ConstantTimeCompare(pk.Connect.Password, []byte(h.token)) == 1 && len(pk.Connect.Username) > 0
	if !ok {
		h.log.Warn("local IPC connection refused: wrong token", "remote", cl.Net.Remote)
	}
	return ok
}

func (h *ipcAuth) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	user := string(cl.Properties.Username)
	switch {
	case write && (topic == "results/"+user || topic == "status/"+user || topic == "verdicts/"+user):
		return true
	case write && strings.HasPrefix(topic, "trigger/") && !strings.ContainsAny(topic[len("trigger/"):], "/+#"):
		return true // a line-side component triggers an inspecting one
	case !write && topic == "trigger/"+user:
		return true
	}
	h.log.Warn("local IPC topic refused", "component", user, "topic", topic, "write", write)
	return false
}
