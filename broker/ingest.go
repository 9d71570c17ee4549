package broker

import (
	"errors"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// errNotTaken answers a QoS 1 publish the server could not store now
// (PUBACK 0x83, "implementation specific error": the receiver is not
// willing to accept it [MQTT-3.4.2.1]); the device keeps it and sends it
// again.
var errNotTaken = packets.Code{Code: packets.ErrImplementationSpecificError.Code, Reason: "not stored now; send it again"}

// OnPublish hands a device's message to the server's handler before the
// broker acknowledges it, so an acknowledgement means "stored". A message
// the server took is not passed on to other subscribers: device topics
// are the server's alone.
func (h *aclHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	subs := h.b.handlers(pk.TopicName)
	if len(subs) == 0 {
		return pk, nil
	}
	if len(subs) == 1 && subs[0].concurrent(pk.FixedHeader.Qos) {
		h.b.acks.handOff(cl, pk, subs[0].Async, subs[0].Concurrent)
		return pk, packets.ErrRejectPacket // acks.go writes the PUBACK
	}
	for _, sub := range subs {
		if err := sub.handler()(pk.TopicName, pk.Payload); err != nil {
			if pk.FixedHeader.Qos == 0 || cl.Properties.ProtocolVersion < 5 {
				return pk, packets.ErrRejectPacket // no way to say "again" but silence
			}
			if errors.Is(err, ErrOverQuota) {
				return pk, packets.ErrQuotaExceeded
			}
			return pk, errNotTaken
		}
	}
	return pk, packets.CodeSuccessIgnore
}

func (b *Embedded) handlers(topic string) []Subscription {
	b.mu.Lock()
	defer b.mu.Unlock()
	return matchingSubs(b.subs, topic)
}
