package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	"github.com/vise-edge/vise"
)

// MQTT 5 reason codes the embedded broker answers with.
const (
	codeNotAuthorized     = 0x87 // PUBACK, SUBACK
	codeBadAuth           = 0x86 // CONNACK: bad user name or password
	codeServerUnavailable = 0x88 // CONNACK: server unavailable
)

// A device publishes only into its own subtree. cam-1 is a prefix of cam-10:
// the subtree is vise/devices/cam-1/, so cam-10's topics are not cam-1's.
// A refused message reaches neither the server nor the device it names.
func TestACLPublishOutsideOwnSubtree(t *testing.T) {
	ca := testCA(t)
	b := startEmbedded(t, ca, nil)
	var server recorder
	if err := b.Subscribe("#", server.add); err != nil {
		t.Fatal(err)
	}
	cam1 := connectDevice(t, ca, b.Addr(), "cam-1")
	cam10 := connectDevice(t, ca, b.Addr(), "cam-10")
	if got := cam10.subscribe(t, DeviceTopic("cam-10")+"/#"); got[0] >= 0x80 {
		t.Fatalf("cam-10 subscribing to its own subtree: reason %#x", got[0])
	}

	for _, topic := range []string{
		"vise/devices/cam-10/status",
		"vise/devices/cam-10/inference/vise.inspect",
		"vise/devices/cam-10/deployments",
		"vise/devices/cam-2/status",
		"vise/devices/cam-1", // the root itself is no topic of the subtree
		"vise/devices",
		"other/topic",
	} {
		code, err := cam1.publishQoS1(t, topic, "forged")
		if code != codeNotAuthorized || err == nil {
			t.Errorf("cam-1 publishing at QoS 1 to %s: PUBACK reason %#x, err %v; want %#x (not authorized)", topic, code, err, codeNotAuthorized)
		}
	}
	// At QoS 0 there is no PUBACK to refuse with: the broker drops it.
	pctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if _, err := cam1.Publish(pctx, &paho.Publish{Topic: "vise/devices/cam-10/status", QoS: 0, Payload: []byte("forged qos0")}); err != nil {
		t.Fatalf("QoS 0 publish: %v", err)
	}

	// The broker handles one client's packets in order: once cam-1's own
	// message has arrived, a forged one sent before it would have too.
	if code, err := cam1.publishQoS1(t, "vise/devices/cam-1/status", "own"); code != 0 || err != nil {
		t.Fatalf("cam-1 publishing to its own status: reason %#x, err %v", code, err)
	}
	waitFor(t, "cam-1's own status at the server", patience, func() bool { return server.has("vise/devices/cam-1/status", "own") })
	// cam-10's deliveries are queued in order: the marker comes after any
	// forged message that got through.
	if err := b.Publish(DeviceTopic("cam-10")+"/deployments", []byte("marker"), false, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server's marker at cam-10", patience, func() bool { return cam10.Received.has("vise/devices/cam-10/deployments", "marker") })

	// The server's handlers see devices' messages only, not its own.
	want := []message{{"vise/devices/cam-1/status", "own"}}
	if diff := cmp.Diff(want, server.messages()); diff != "" {
		t.Errorf("the server received (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]message{{"vise/devices/cam-10/deployments", "marker"}}, cam10.Received.messages()); diff != "" {
		t.Errorf("cam-10 received (-want +got):\n%s", diff)
	}
}

// A device subscribes only within its own subtree: no wildcard reaches over
// into another device's, and cam-1 gets nothing of cam-10's.
func TestACLSubscribeOutsideOwnSubtree(t *testing.T) {
	ca := testCA(t)
	b := startEmbedded(t, ca, nil)
	cam1 := connectDevice(t, ca, b.Addr(), "cam-1")

	refused := []string{
		"vise/devices/cam-10/#",
		"vise/devices/cam-10/status",
		"vise/devices/cam-1",
		"vise/devices/+/status",
		"vise/devices/+/deployments",
		"vise/devices/#",
		"vise/#",
		"#",
		"+/devices/cam-1/deployments",
	}
	for _, f := range refused {
		if got := cam1.subscribe(t, f); got[0] != codeNotAuthorized {
			t.Errorf("cam-1 subscribing to %s: SUBACK reason %#x; want %#x (not authorized)", f, got[0], codeNotAuthorized)
		}
	}
	own := []string{"vise/devices/cam-1/#", "vise/devices/cam-1/deployments", "vise/devices/cam-1/+"}
	if diff := cmp.Diff([]byte{1, 1, 1}, cam1.subscribe(t, own...)); diff != "" {
		t.Errorf("cam-1 subscribing to its own subtree %v: reason codes (-want +got):\n%s", own, diff)
	}

	for _, d := range []string{"cam-10", "cam-2", "cam-1"} {
		if err := b.Publish(DeviceTopic(d)+"/deployments", []byte("for "+d), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	// cam-1's own announcement is published last: anything of the others'
	// that got through would have arrived before it.
	waitFor(t, "cam-1's own announcement", patience, func() bool {
		return cam1.Received.has("vise/devices/cam-1/deployments", "for cam-1")
	})
	for _, m := range cam1.Received.messages() {
		if m != (message{"vise/devices/cam-1/deployments", "for cam-1"}) {
			t.Errorf("cam-1 received %v, not its own", m)
		}
	}
}

// The client id is the device name in the certificate: a device cannot
// connect as another (which would also take over that device's session),
// nor without a client id, nor when the server does not authorize it. A
// server that cannot decide now (its database busy or slow) says so: the
// device is to come back, not refused.
func TestACLConnectIdentity(t *testing.T) {
	ca := testCA(t)
	b := startEmbedded(t, ca, func(device, _ string) error {
		switch device {
		case "cam-gone":
			return errors.New("revoked")
		case "cam-busy":
			return vise.Errorf(vise.CodeUnavailable, "the database is locked by another process")
		case "cam-slow":
			return fmt.Errorf("get device certificate: %w", context.DeadlineExceeded)
		}
		return nil
	})
	cam10 := connectDevice(t, ca, b.Addr(), "cam-10")
	if got := cam10.subscribe(t, DeviceTopic("cam-10")+"/#"); got[0] >= 0x80 {
		t.Fatalf("cam-10 subscribing to its own subtree: reason %#x", got[0])
	}
	cam1Cert := deviceCert(t, ca, "cam-1")

	for _, tc := range []struct {
		name, cert, clientID string
		want                 byte
	}{
		{"another device's id", "cam-1", "cam-10", codeBadAuth},
		{"an id the certificate only starts with", "cam-10", "cam-1", codeBadAuth},
		{"empty id", "cam-1", "", codeBadAuth},
		{"not authorized", "cam-gone", "cam-gone", codeBadAuth},
		{"database unavailable", "cam-busy", "cam-busy", codeServerUnavailable},
		{"database too slow", "cam-slow", "cam-slow", codeServerUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert := cam1Cert
			if tc.cert != "cam-1" {
				cert = deviceCert(t, ca, tc.cert)
			}
			_, ack, err := dialMQTT(t, ca, b.Addr(), cert, tc.clientID, nil)
			if err == nil {
				t.Fatalf("certificate %s connected as %q", tc.cert, tc.clientID)
			}
			if ack == nil || ack.ReasonCode != tc.want {
				t.Errorf("CONNACK %+v (err %v); want reason %#x", ack, err, tc.want)
			}
		})
	}

	// cam-10's own session survived the impostor: it still publishes and
	// still receives.
	if code, err := cam10.publishQoS1(t, "vise/devices/cam-10/status", "still here"); code != 0 || err != nil {
		t.Fatalf("cam-10 after the impostor: reason %#x, err %v", code, err)
	}
	waitFor(t, "cam-10's own status echoed back", patience, func() bool {
		return cam10.Received.has("vise/devices/cam-10/status", "still here")
	})
	if n := clientCount(b); n != 1 {
		t.Errorf("%d clients connected; want only cam-10", n)
	}
}

func clientCount(b *Embedded) int {
	n := 0
	for _, cl := range b.srv.Clients.GetAll() {
		if !cl.Net.Inline && !cl.Closed() {
			n++
		}
	}
	return n
}

func TestACLDeniedMetric(t *testing.T) {
	ca := testCA(t)
	b := startEmbedded(t, ca, nil)
	cam1 := connectDevice(t, ca, b.Addr(), "cam-1")
	for i := range 3 {
		if code, _ := cam1.publishQoS1(t, fmt.Sprintf("vise/devices/cam-10/status/%d", i), "x"); code != codeNotAuthorized {
			t.Fatalf("publish %d: reason %#x", i, code)
		}
	}
	var m dto.Metric
	if err := b.denied.WithLabelValues("acl").Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != 3 {
		t.Errorf("vise_mqtt_denied_total{reason=acl} = %v; want 3", got)
	}
}
