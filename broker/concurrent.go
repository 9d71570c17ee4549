package broker

import (
	"context"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// receive handles a message from the external broker. A QoS 1 message is
// acknowledged only once handled, so an outage or a crash mid-way means
// redelivery, not loss. Messages for an Async subscription (results) are
// handed over without waiting, up to Concurrent at once, so they reach the
// ingester's group commit together instead of one per commit; paho sends
// the acknowledgements in the order the messages came all the same. Other
// messages (status reports, whose order matters) are handled here, one
// at a time.
//
// A message is acknowledged only on the connection it came on: after a
// reconnection the broker delivers it again, with the same packet id, and
// an acknowledgement from a handler of the old connection could otherwise
// answer a later message that reuses the id.
func (e *External) receive(ctx context.Context, pr paho.PublishReceived) {
	conn := e.conn.Load()
	subs := e.matching(pr.Packet.Topic)
	if len(subs) != 1 || !subs[0].concurrent(pr.Packet.QoS) {
		if e.dispatch(ctx, conn, pr.Packet.Topic, pr.Packet.Payload) {
			pr.Client.Ack(pr.Packet)
		}
		return
	}
	select {
	case e.inflight <- struct{}{}:
	case <-ctx.Done():
		return
	}
	m := &asyncMsg{e: e, ctx: ctx, conn: conn, pr: pr, fn: subs[0].Async, wait: 100 * time.Millisecond}
	m.fn(pr.Packet.Topic, pr.Packet.Payload, m.done)
}

// asyncMsg is a message in an Async handler.
type asyncMsg struct {
	e    *External
	ctx  context.Context
	conn int64
	pr   paho.PublishReceived
	fn   AsyncHandler
	wait time.Duration // before trying again after "not now"
}

// done takes the handler's answer: the message is acknowledged (by the
// acker goroutine: done runs on the ingester's writer) or, when the server
// could not take it now, tried again after a while, as dispatch does.
func (m *asyncMsg) done(err error) {
	if err == nil {
		m.e.acks <- m // never blocks: room for every message in flight
		return
	}
	go func() {
		select {
		case <-m.ctx.Done():
		case <-time.After(m.wait):
			if m.e.conn.Load() == m.conn {
				m.wait = min(2*m.wait, 5*time.Second)
				m.fn(m.pr.Packet.Topic, m.pr.Packet.Payload, m.done)
				return
			}
		}
		<-m.e.inflight // not acknowledged: delivered again
	}()
}

// ack sends the acknowledgements of handled messages until ctx ends.
func (e *External) ack(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-e.acks:
			if e.conn.Load() == m.conn {
				m.pr.Client.Ack(m.pr.Packet)
			}
			<-e.inflight
		}
	}
}

// maxConcurrent is the most messages in Async handlers at once: the
// largest Concurrent of the subscriptions known at start.
func maxConcurrent(subs []Subscription) int {
	n := 1
	for _, s := range subs {
		n = max(n, s.Concurrent)
	}
	return n
}
