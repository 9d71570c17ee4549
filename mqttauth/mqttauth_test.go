package mqttauth

import (
	"log/slog"
	"net"
	"strings"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/vise-edge/vise/internal/logbuf"
)

// OnConnectAuthenticate admits only a client the connection rule let
// through in OnConnect, and only once: a client that reached it any other
// way is refused. A refused client is answered in OnConnect with the code
// its Denial calls for, logged and counted.
func TestHookAdmitsOnlyWhatOnConnectPassed(t *testing.T) {
	srv := mqtt.New(nil)
	var log logbuf.Buffer
	var denied []string
	h := New(Rules{ID: "test", Name: "test", Server: srv, Log: slog.New(slog.NewTextHandler(&log, nil)),
		Connect: func(cl *mqtt.Client, _ packets.Packet) *Denial {
			switch cl.ID {
			case "busy":
				return &Denial{Reason: "unavailable", Msg: "cannot decide now", Unavailable: true}
			case "stranger":
				return &Denial{Reason: "unauthorized", Msg: "not known"}
			}
			return nil
		},
		Topic:  func(*mqtt.Client, string, bool) bool { return true },
		Denied: func(reason string) { denied = append(denied, reason) }})
	client := func(id string) *mqtt.Client {
		c, peer := net.Pipe()
		t.Cleanup(func() { c.Close(); peer.Close() })
		go func() { // the client's side: take the CONNACK, if any
			b := make([]byte, 64)
			for {
				if _, err := peer.Read(b); err != nil {
					return
				}
			}
		}()
		return srv.NewClient(c, "test", id, false)
	}

	cl := client("cam-1")
	if h.OnConnectAuthenticate(cl, packets.Packet{}) {
		t.Error("a client that did not pass OnConnect was admitted")
	}
	if err := h.OnConnect(cl, packets.Packet{}); err != nil {
		t.Fatalf("OnConnect refused cam-1: %v", err)
	}
	if !h.OnConnectAuthenticate(cl, packets.Packet{}) {
		t.Error("cam-1 passed OnConnect but was not admitted")
	}
	if h.OnConnectAuthenticate(cl, packets.Packet{}) {
		t.Error("cam-1 was admitted twice for one OnConnect")
	}
	for id, want := range map[string]packets.Code{"busy": packets.ErrServerUnavailable, "stranger": packets.ErrBadUsernameOrPassword} {
		cl := client(id)
		if err := h.OnConnect(cl, packets.Packet{}); err != want {
			t.Errorf("OnConnect(%s) = %v, want %v", id, err, want)
		}
		if h.OnConnectAuthenticate(cl, packets.Packet{}) {
			t.Errorf("%s was refused in OnConnect but admitted after", id)
		}
	}
	if len(denied) != 2 {
		t.Errorf("refusals counted: %v, want one each for busy and stranger", denied)
	}
	if n := strings.Count(log.String(), "test connection refused"); n != 2 {
		t.Errorf("%d refusals logged, want 2:\n%s", n, log.String())
	}
}
