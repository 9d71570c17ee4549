package broker

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

func withWill(topic string, retain bool) *paho.Connect {
	return &paho.Connect{CleanStart: true, KeepAlive: 30,
		WillMessage: &paho.WillMessage{Topic: topic, QoS: 1, Retain: retain, Payload: []byte(`{"state":"FAILED","message":"forged"}`)}}
}

// A will is a publish the broker makes for the client later: the same rule
// applies, checked at CONNECT, and a retained will is refused too.
func TestWillOutsideSubtreeRefused(t *testing.T) {
	ca := testCA(t)
	b := startEmbedded(t, ca, nil)
	for _, tc := range []struct {
		name, topic string
		retain      bool
		refused     bool
	}{
		{"another device's results", "vise/devices/cam-2/inference/vise.inspect", false, true},
		{"another device's status", "vise/devices/cam-2/status", false, true},
		{"a device whose name starts with ours", "vise/devices/cam-10/status", false, true},
		{"outside vise", "plant/line-3/reject", false, true},
		{"own status, retained", "vise/devices/cam-1/status", true, true},
		{"own status", "vise/devices/cam-1/status", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ack, err := dialMQTT(t, ca, b.Addr(), deviceCert(t, ca, "cam-1"), "cam-1", withWill(tc.topic, tc.retain))
			if !tc.refused {
				if err != nil {
					t.Fatalf("connect with a will on %s: %v", tc.topic, err)
				}
				return
			}
			if err == nil || ack == nil || ack.ReasonCode != packets.ErrNotAuthorized.Code {
				t.Fatalf("connect with a will on %s (retain %v): CONNACK %+v, err %v; want reason %#x (not authorized)",
					tc.topic, tc.retain, ack, err, packets.ErrNotAuthorized.Code)
			}
		})
	}
}

// A device's will never reaches the server's handlers (they take only what
// a device publishes itself), and a revoked device's will is not sent at
// all. An inline subscriber stands in for anyone who could receive it.
func TestWillNotDelivered(t *testing.T) {
	ca := testCA(t)
	b := startEmbedded(t, ca, nil)
	var server, anyone recorder
	b.Subscribe("vise/devices/+/status", server.add)
	if err := b.srv.Subscribe("vise/devices/+/status", 99, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		anyone.add(pk.TopicName, pk.Payload)
	}); err != nil {
		t.Fatal(err)
	}

	// Leaving "with will" (reason 0x04) makes the broker send it.
	cam1, _, err := dialMQTT(t, ca, b.Addr(), deviceCert(t, ca, "cam-1"), "cam-1", withWill("vise/devices/cam-1/status", false))
	if err != nil {
		t.Fatal(err)
	}
	cam1.Disconnect(&paho.Disconnect{ReasonCode: 0x04})
	waitFor(t, "cam-1's will", patience, func() bool { return len(anyone.messages()) == 1 })
	if got := server.messages(); len(got) != 0 {
		t.Errorf("the server's handler received a will: %v", got)
	}

	// Revoked: cut off by the server, the will goes nowhere.
	cam2, _, err := dialMQTT(t, ca, b.Addr(), deviceCert(t, ca, "cam-2"), "cam-2", withWill("vise/devices/cam-2/status", false))
	if err != nil {
		t.Fatal(err)
	}
	b.Disconnect("cam-2")
	select {
	case <-cam2.Done():
	case <-time.After(patience):
		t.Fatal("revoked cam-2 still connected")
	}
	// cam-3 leaves with its will after cam-2 was cut off: once its will is
	// here, cam-2's would have been too.
	cam3, _, err := dialMQTT(t, ca, b.Addr(), deviceCert(t, ca, "cam-3"), "cam-3", withWill("vise/devices/cam-3/status", false))
	if err != nil {
		t.Fatal(err)
	}
	cam3.Disconnect(&paho.Disconnect{ReasonCode: 0x04})
	waitFor(t, "cam-3's will", patience, func() bool { return anyone.has("vise/devices/cam-3/status", `{"state":"FAILED","message":"forged"}`) })
	for _, m := range anyone.messages() {
		if m.Topic == "vise/devices/cam-2/status" {
			t.Errorf("the revoked device's will was delivered: %v", m)
		}
	}
}
