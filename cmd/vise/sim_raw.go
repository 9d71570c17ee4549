package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

// rawIDBase splits the packet ids of a device's connection: paho (the
// agent's status reports) takes its ids from 1 upwards, one per publish,
// the raw publisher takes the upper half. The agent publishes a few
// reports a connection, so the halves never meet.
const rawIDBase = 0x8000

// pahoShare is how much of the server's Receive Maximum the raw publisher
// leaves to paho's own publishes on the same connection.
const pahoShare = 8

// rawLink is one simulated device's MQTT connection as the raw publisher
// sees it: the --direct results are written as QoS 1 PUBLISH packets on
// the agent's own mTLS connection, past paho's goroutines, channels and
// per-message allocations; their PUBACKs are taken out of the stream
// before paho reads it (rawConn.Read) and matched to their packet ids.
// Everything else on the connection is paho's as before.
type rawLink struct {
	mu       sync.Mutex
	conn     *rawConn             // the current connection; nil before the first
	inFlight map[uint16]time.Time // raw packet id -> when it was published
	nextID   uint16
	recvMax  int // the server's Receive Maximum (CONNACK), 65535 if it sent none
	slots    chan struct{}
	lat      []time.Duration
	lastAck  time.Time
	failed   int64
}

func newRawLink() *rawLink {
	return &rawLink{inFlight: make(map[uint16]time.Time), nextID: rawIDBase, recvMax: 65535}
}

// wrap is the agent's Config.MQTTConn: each new connection of the agent
// becomes the link's current one.
func (l *rawLink) wrap(c net.Conn) net.Conn {
	rc := &rawConn{batchConn: newBatchConn(c).(*batchConn), r: bufio.NewReaderSize(c, 16<<10), link: l}
	l.mu.Lock()
	l.conn = rc
	l.failLocked(len(l.inFlight)) // the acks of the last connection are not coming
	clear(l.inFlight)
	l.mu.Unlock()
	return rc
}

// start sizes the in-flight bound: --in-flight, within what the server
// receives at once from the connection less paho's share.
func (l *rawLink) start(inFlight int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.slots = make(chan struct{}, max(1, min(inFlight, l.recvMax-pahoShare)))
}

// publish writes one QoS 1 PUBLISH of payload to topic; the caller holds
// a slot (sends to slots first). A packet that cannot be written counts
// as not acknowledged at once. scratch is the caller's, for the header.
func (l *rawLink) publish(topic string, payload []byte, scratch *[]byte) {
	l.mu.Lock()
	c := l.conn
	id := l.nextID
	for _, busy := l.inFlight[id]; busy; _, busy = l.inFlight[id] {
		id = nextRawID(id)
	}
	l.nextID = nextRawID(id)
	if c == nil {
		l.failLocked(1)
		l.mu.Unlock()
		return
	}
	l.inFlight[id] = time.Now() // before the write: its ack finds it
	l.mu.Unlock()
	*scratch = appendPublishHeader((*scratch)[:0], topic, id, len(payload))
	c.Lock() // the packet lock: whole between paho's packets
	_, err := c.Write(*scratch)
	if err == nil {
		_, err = c.Write(payload)
	}
	c.Unlock()
	if err != nil {
		l.mu.Lock()
		if _, ok := l.inFlight[id]; ok { // not failed with its connection already
			delete(l.inFlight, id)
			l.failLocked(1)
		}
		l.mu.Unlock()
	}
}

func nextRawID(id uint16) uint16 {
	if id == 0xFFFF {
		return rawIDBase
	}
	return id + 1
}

// failLocked counts n results not acknowledged and frees their slots.
func (l *rawLink) failLocked(n int) {
	l.failed += int64(n)
	for range n {
		<-l.slots
	}
}

// ack takes the PUBACK of a raw packet: any reason code but success
// (0x00, or none) is a result not acknowledged. An id not in flight (its
// connection was lost meanwhile) is dropped.
func (l *rawLink) ack(id uint16, reason byte) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	t0, ok := l.inFlight[id]
	if !ok {
		return
	}
	delete(l.inFlight, id)
	if reason != 0 {
		l.failLocked(1)
		return
	}
	l.lat = append(l.lat, now.Sub(t0))
	if now.After(l.lastAck) {
		l.lastAck = now
	}
	<-l.slots
}

// lost fails what is in flight on a connection that went down: its
// PUBACKs are not coming.
func (l *rawLink) lost(c *rawConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != c {
		return
	}
	l.conn = nil
	l.failLocked(len(l.inFlight))
	clear(l.inFlight)
}

// abandon counts what is still in flight at the end as not acknowledged.
func (l *rawLink) abandon() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failLocked(len(l.inFlight))
	clear(l.inFlight)
}

// appendPublishHeader appends an MQTT 5 QoS 1 PUBLISH's fixed header,
// topic, packet id and (empty) properties, for a payload of n bytes.
func appendPublishHeader(b []byte, topic string, id uint16, n int) []byte {
	b = append(b, byte(packets.PUBLISH)<<4|1<<1)
	rest := 2 + len(topic) + 2 + 1 + n
	for { // remaining length, 7 bits a byte [MQTT-1.5.5]
		d := byte(rest % 128)
		if rest /= 128; rest > 0 {
			d |= 0x80
		}
		if b = append(b, d); rest == 0 {
			break
		}
	}
	b = append(b, byte(len(topic)>>8), byte(len(topic)))
	b = append(b, topic...)
	return append(b, byte(id>>8), byte(id), 0)
}

// rawConn is a device's connection with the raw publisher's PUBACKs taken
// out of what paho reads.
type rawConn struct {
	*batchConn
	r      *bufio.Reader
	link   *rawLink
	toPaho bytes.Buffer // packets read for paho, not yet taken
	body   []byte
}

// Read gives paho the packets that are not raw PUBACKs. It runs on paho's
// reader goroutine, so it is the connection's one reader.
func (c *rawConn) Read(p []byte) (int, error) {
	for c.toPaho.Len() == 0 {
		if err := c.next(); err != nil {
			c.link.lost(c)
			return 0, err
		}
	}
	return c.toPaho.Read(p)
}

// next reads one packet: a raw PUBACK goes to the link, anything else to
// paho, and a CONNACK's Receive Maximum to the link as well.
func (c *rawConn) next() error {
	first, err := c.r.ReadByte()
	if err != nil {
		return err
	}
	var hdr [5]byte
	hdr[0] = first
	n, size := 0, 1
	for shift := 0; ; shift += 7 {
		d, err := c.r.ReadByte()
		if err != nil {
			return err
		}
		if size == len(hdr) {
			return errors.New("mqtt: malformed remaining length")
		}
		hdr[size] = d
		size++
		n |= int(d&0x7F) << shift
		if d&0x80 == 0 {
			break
		}
	}
	if cap(c.body) < n {
		c.body = make([]byte, n)
	}
	body := c.body[:n]
	if _, err := io.ReadFull(c.r, body); err != nil {
		return err
	}
	if first>>4 == packets.PUBACK && n >= 2 {
		if id := uint16(body[0])<<8 | uint16(body[1]); id >= rawIDBase {
			var reason byte
			if n > 2 {
				reason = body[2]
			}
			c.link.ack(id, reason)
			return nil
		}
	}
	if first>>4 == packets.CONNACK {
		c.connack(append(hdr[:size:size], body...))
	}
	c.toPaho.Write(hdr[:size])
	c.toPaho.Write(body)
	return nil
}

// connack notes the server's Receive Maximum.
func (c *rawConn) connack(pkt []byte) {
	cp, err := packets.ReadPacket(bytes.NewReader(pkt))
	if err != nil {
		return // paho reads it too and says what is wrong
	}
	ca, ok := cp.Content.(*packets.Connack)
	if !ok || ca.Properties == nil || ca.Properties.ReceiveMaximum == nil {
		return
	}
	c.link.mu.Lock()
	c.link.recvMax = int(*ca.Properties.ReceiveMaximum)
	c.link.mu.Unlock()
}
