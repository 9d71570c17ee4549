package broker

import (
	"testing"

	"github.com/vise-edge/vise/deviceapi"
)

// During a self-update a device's new agent connects beside the running
// one under its candidate client id (decision 0021). Only that device's
// own certificate may use it, and the topic rule — publish, subscribe and
// will — is the device's own.
func TestCandidateClientID(t *testing.T) {
	ca := testCA(t)
	b := startEmbedded(t, ca, nil)
	cam1 := connectDevice(t, ca, b.Addr(), "cam-1")
	cam1Cert, cam2Cert := deviceCert(t, ca, "cam-1"), deviceCert(t, ca, "cam-2")

	// Another device cannot use cam-1's candidate id, nor a candidate id
	// that only starts with its own name.
	for _, tc := range []struct {
		name, clientID string
	}{
		{"cam-2 as cam-1's candidate", deviceapi.CandidateClientID("cam-1")},
		{"cam-2 as cam-20's candidate", deviceapi.CandidateClientID("cam-20")},
		{"cam-2 as a candidate of a candidate", deviceapi.CandidateClientID(deviceapi.CandidateClientID("cam-2"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ack, err := dialMQTT(t, ca, b.Addr(), cam2Cert, tc.clientID, nil)
			if err == nil || ack == nil || ack.ReasonCode != codeBadAuth {
				t.Fatalf("cam-2's certificate as %q: CONNACK %+v, err %v; want reason %#x", tc.clientID, ack, err, codeBadAuth)
			}
		})
	}
	// Nor may a candidate leave a will outside its device's subtree.
	if _, ack, err := dialMQTT(t, ca, b.Addr(), cam1Cert, deviceapi.CandidateClientID("cam-1"), withWill("vise/devices/cam-2/status", false)); err == nil {
		t.Fatalf("cam-1's candidate connected with a will on cam-2's status (CONNACK %+v)", ack)
	}

	// cam-1's own candidate connects beside cam-1 without taking its
	// session over, and is held to cam-1's subtree.
	cand, ack, err := dialMQTT(t, ca, b.Addr(), cam1Cert, deviceapi.CandidateClientID("cam-1"), nil)
	if err != nil {
		t.Fatalf("cam-1's candidate: %v (CONNACK %+v)", err, ack)
	}
	if code, err := cand.publishQoS1(t, deviceapi.CandidateTopic("cam-1"), "proof"); code != 0 || err != nil {
		t.Errorf("candidate publishing its proof: reason %#x, err %v", code, err)
	}
	for _, topic := range []string{"vise/devices/cam-2/status", deviceapi.CandidateTopic("cam-2"), "vise/devices/cam-1~candidate/status"} {
		if code, _ := cand.publishQoS1(t, topic, "forged"); code != codeNotAuthorized {
			t.Errorf("candidate publishing to %s: reason %#x; want %#x", topic, code, codeNotAuthorized)
		}
	}
	if got := cand.subscribe(t, "vise/devices/cam-2/#", "vise/devices/cam-1/#"); got[0] != codeNotAuthorized || got[1] >= 0x80 {
		t.Errorf("candidate subscribing to cam-2's and its own subtree: reasons %#x", got)
	}
	if code, err := cam1.publishQoS1(t, "vise/devices/cam-1/status", "still here"); code != 0 || err != nil {
		t.Errorf("cam-1 beside its candidate: reason %#x, err %v", code, err)
	}

	// Revoking cam-1 cuts its candidate off too.
	b.Disconnect("cam-1")
	waitFor(t, "cam-1 and its candidate disconnected", patience, func() bool { return clientCount(b) == 0 })
}
