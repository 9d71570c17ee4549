package broker

import (
	"bytes"
	"errors"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// A Subscription with an Async handler lets one connection have up to
// Concurrent QoS 1 messages in the server at once: the hook hands each
// message to the handler and returns at once (mochi-mqtt then does
// nothing more with it), and the PUBACK is written when the handler
// answers. So a device with several results in flight gets them all into
// one batch of the ingester's group commit, instead of one per commit.
// PUBACKs still go out in the order the PUBLISHes came in [MQTT-4.6.0-2]:
// an answered message waits for the ones received before it, and the
// ones ready together go out in one write. A connection with Concurrent
// messages unanswered is not read from until one is answered, which is
// how TCP tells the device to slow down.

// ackOrder keeps, per connection, the unanswered messages in the order
// they were received.
type ackOrder struct {
	mu    sync.Mutex
	conns map[*mqtt.Client]*connAcks // only connections with messages unanswered
}

type connAcks struct {
	slots   []*ackSlot // received, not yet acknowledged, oldest first
	room    *sync.Cond // signalled when slots shrink
	writing bool       // a goroutine is writing this connection's PUBACKs
}

type ackSlot struct {
	id   uint16
	err  error
	done bool
}

// handOff gives pk to fn, whose answer acknowledges it in order; it waits
// first while the connection has limit messages unanswered.
func (o *ackOrder) handOff(cl *mqtt.Client, pk packets.Packet, fn AsyncHandler, limit int) {
	s := &ackSlot{id: pk.PacketID}
	o.mu.Lock()
	if o.conns == nil {
		o.conns = map[*mqtt.Client]*connAcks{}
	}
	c := o.line(cl)
	for len(c.slots) >= limit {
		c.room.Wait()
		// The writer drops a connection's line once it is empty: while
		// this waited, the line may have emptied, gone, and a later
		// message would start a new one; appending to the old would let
		// that later message be acknowledged first.
		c = o.line(cl)
	}
	c.slots = append(c.slots, s)
	o.mu.Unlock()
	fn(pk.TopicName, pk.Payload, func(err error) { o.answer(cl, c, s, err) })
}

// line is cl's line of unanswered messages, made if it has none; o.mu is
// held.
func (o *ackOrder) line(cl *mqtt.Client) *connAcks {
	c := o.conns[cl]
	if c == nil {
		c = &connAcks{room: sync.NewCond(&o.mu)}
		o.conns[cl] = c
	}
	return c
}

// answer records a handler's answer and, unless a writer is at it already,
// starts one for the answered messages at the head of the line. The
// writing is not done here: answers come from the ingester's one writer,
// which must not wait for a slow device's socket.
func (o *ackOrder) answer(cl *mqtt.Client, c *connAcks, s *ackSlot, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s.err, s.done = err, true
	if !c.writing && c.slots[0].done {
		c.writing = true
		go o.write(cl, c)
	}
}

// write sends the PUBACKs of the answered messages at the head of the
// line until there are none.
func (o *ackOrder) write(cl *mqtt.Client, c *connAcks) {
	o.mu.Lock()
	for {
		n := 0
		for n < len(c.slots) && c.slots[n].done {
			n++
		}
		if n == 0 {
			c.writing = false
			if len(c.slots) == 0 {
				delete(o.conns, cl)
			}
			o.mu.Unlock()
			return
		}
		ready := make([]*ackSlot, n)
		copy(ready, c.slots)
		c.slots = c.slots[n:]
		c.room.Broadcast()
		o.mu.Unlock()
		writeAcks(cl, ready)
		o.mu.Lock()
	}
}

// writeAcks answers messages as OnPublish would have: the plain PUBACKs in
// one write (one TLS record, one system call), those with a reason
// through mochi-mqtt one by one. A connection that is gone is no matter:
// the device sends the messages again on its next, and the server counts
// them duplicates.
func writeAcks(cl *mqtt.Client, ready []*ackSlot) {
	var buf bytes.Buffer
	for _, s := range ready {
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: s.id,
			ProtocolVersion: cl.Properties.ProtocolVersion}
		if s.err == nil {
			ack.PubackEncode(&buf) // cannot fail: no properties
			continue
		}
		if cl.Properties.ProtocolVersion < 5 {
			continue // no way to say "again" but silence
		}
		flush(cl, &buf)
		code := errNotTaken
		if errors.Is(s.err, ErrOverQuota) {
			code = packets.ErrQuotaExceeded
		}
		ack.ReasonCode, ack.Properties.ReasonString = code.Code, code.Reason
		cl.WritePacket(ack)
	}
	flush(cl, &buf)
}

// flush writes encoded packets to the connection as mochi-mqtt's
// WritePacket does (under the client's lock; the server's options leave
// it no write buffer of its own).
func flush(cl *mqtt.Client, buf *bytes.Buffer) {
	if buf.Len() == 0 || cl.Closed() || cl.Net.Conn == nil {
		buf.Reset()
		return
	}
	cl.Lock()
	defer cl.Unlock()
	buf.WriteTo(cl.Net.Conn)
}
