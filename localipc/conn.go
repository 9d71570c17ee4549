package localipc

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

// What the endpoint takes. It keeps no session beyond a connection, no
// retained messages and no wills: a will in CONNECT is ignored, since the
// agent learns of a component's end from its process, not from MQTT.
const (
	maxPacketSize  = 8 << 20          // told in CONNACK [MQTT-3.2.2-15]
	maxConnectSize = 64 << 10         // before the client has shown the token
	connectTimeout = 10 * time.Second // for the first packet
	writeTimeout   = 5 * time.Second  // a client that stops reading is cut off
)

// conn is one client connection, served by its own goroutine.
type conn struct {
	s  *Server
	nc net.Conn
	br *bufio.Reader
	// wmu serializes writes: triggers are delivered on the publisher's
	// goroutine, acknowledgements on the client's own.
	wmu sync.Mutex

	// Set by connect before c is registered; read-only after.
	id, user  string
	keepAlive time.Duration
	maxOut    int  // the largest packet the client takes; 0: any [MQTT-3.1.2-24]
	v311      bool // speaks MQTT 3.1.1 (v311.go)

	sub subscription // guarded by s.mu
}

// subscription is a client's one possible subscription, trigger/<its name>.
type subscription struct{ on, noLocal bool }

// reasonError ends a connection with a DISCONNECT that carries code (§4.13).
type reasonError struct {
	code byte
	msg  string
}

func (e *reasonError) Error() string { return fmt.Sprintf("%s (reason %#x)", e.msg, e.code) }

func malformed(msg string) error { return &reasonError{packets.DisconnectMalformedPacket, msg} }

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{s: s, nc: nc, br: bufio.NewReader(nc)}
}

// serve runs the connection until it ends, on any side.
func (c *conn) serve() {
	defer c.s.drop(c)
	remote := c.nc.RemoteAddr().String()
	if err := c.connect(); err != nil {
		c.s.log.Debug("local IPC connection closed before it was accepted", "remote", remote, "err", err)
		return
	}
	err := c.loop()
	var r *reasonError
	switch {
	case errors.As(err, &r):
		c.write(&packets.Disconnect{ReasonCode: r.code}) // then close (§4.13)
		c.s.log.Warn("local IPC client disconnected", "client_id", c.id, "remote", remote, "err", err)
	default:
		c.s.log.Debug("local IPC client gone", "client_id", c.id, "remote", remote, "err", err)
	}
}

// connect takes the CONNECT that must come first [MQTT-3.1.0-1], refuses
// or accepts it and takes over from an older connection with its id.
func (c *conn) connect() error {
	c.nc.SetReadDeadline(time.Now().Add(connectTimeout))
	// Read whole (it is small) to tell the protocol version from its body.
	hdr, length, err := readFixed(c.br, maxConnectSize)
	var body []byte
	if err == nil {
		body, err = readBody(c.br, length)
	}
	if err != nil {
		return fmt.Errorf("reading CONNECT: %w", err) // no DISCONNECT before CONNACK [MQTT-3.14.0-1]
	}
	var pk *packets.ControlPacket
	if c.v311 = hdr[0]>>4 == packets.CONNECT && isV3(body); c.v311 {
		pk, err = parseV311(hdr[0], body)
	} else {
		pk, err = parseV5(bytes.NewReader(body), hdr, length)
	}
	if err != nil {
		return fmt.Errorf("reading CONNECT: %w", err)
	}
	cp, ok := pk.Content.(*packets.Connect)
	if !ok {
		return fmt.Errorf("first packet is %s, not CONNECT", pk.PacketType())
	}
	if code, why := c.s.admit(cp); code != 0 {
		c.s.log.Warn("local IPC connection refused: "+why, "client_id", cp.ClientID, "remote", c.nc.RemoteAddr().String())
		c.write(&packets.Connack{ReasonCode: code}) // then close [MQTT-3.2.2-7]
		return errors.New("refused: " + why)
	}
	ack := connack(cp)
	c.id, c.user = cp.ClientID, cp.Username
	if c.id == "" {
		c.id = "auto-" + rand.Text() // [MQTT-3.1.3-6] [MQTT-3.1.3-7]
		ack.Properties.AssignedClientID = c.id
	}
	c.keepAlive = time.Duration(cp.KeepAlive) * time.Second
	if m := cp.Properties.MaximumPacketSize; m != nil {
		c.maxOut = int(*m)
	}
	if old := c.s.register(c); old != nil {
		old.write(&packets.Disconnect{ReasonCode: packets.DisconnectSessionTakenOver})
		old.nc.Close()
		c.s.log.Info("local IPC client id taken over by a new connection", "client_id", c.id)
	}
	return c.write(ack)
}

// connack accepts cp, with the properties that keep clients simple.
func connack(cp *packets.Connect) *packets.Connack {
	no, qos1 := byte(0), byte(1)
	aliases, size := uint16(0), uint32(maxPacketSize)
	props := &packets.Properties{TopicAliasMaximum: &aliases, RetainAvailable: &no, WildcardSubAvailable: &no,
		SharedSubAvailable: &no, SubIDAvailable: &no, MaximumQOS: &qos1, MaximumPacketSize: &size}
	if e := cp.Properties.SessionExpiryInterval; e != nil && *e != 0 {
		var none uint32 // no session outlives its connection (§3.2.2.3.2)
		props.SessionExpiryInterval = &none
	}
	return &packets.Connack{Properties: props}
}

// loop serves the packets after CONNECT until the client leaves (nil) or
// the connection fails.
func (c *conn) loop() error {
	for {
		var deadline time.Time // none with keepalive 0 [MQTT-3.1.2-22]
		if c.keepAlive > 0 {
			deadline = time.Now().Add(c.keepAlive * 3 / 2) // [MQTT-3.1.2-22]
		}
		c.nc.SetReadDeadline(deadline)
		pk, err := c.readPacket(maxPacketSize)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return &reasonError{packets.DisconnectKeepAliveTimeout, "silent for 1.5 times its keepalive"}
		}
		if err != nil {
			return fmt.Errorf("reading a packet: %w", err)
		}
		switch p := pk.Content.(type) {
		case *packets.Publish:
			err = c.publish(p)
		case *packets.Subscribe:
			err = c.subscribe(p)
		case *packets.Unsubscribe:
			err = c.unsubscribe(p)
		case *packets.Pingreq:
			err = c.write(&packets.Pingresp{}) // [MQTT-3.12.4-1]
		case *packets.Disconnect:
			return nil
		default: // a second CONNECT [MQTT-3.1.0-2], QoS 2 flow, AUTH, a server's packet
			return &reasonError{packets.DisconnectProtocolError, "unexpected " + pk.PacketType()}
		}
		if err != nil {
			return err
		}
	}
}

// publish takes a PUBLISH at QoS 0 or 1 and acknowledges a QoS 1 one once
// it was handled.
func (c *conn) publish(p *packets.Publish) error {
	switch {
	case p.QoS > 1: // above CONNACK's Maximum QoS (§3.2.2.3.4)
		return &reasonError{packets.DisconnectQoSNotSupported, "QoS 2 publish"}
	case p.Retain && !c.v311: // CONNACK said Retain Available 0 (§3.2.2.3.5); 3.1.1 cannot be told, so its retain flag is not honoured, the message delivered
		return &reasonError{packets.DisconnectRetainNotSupported, "retained publish"}
	case p.Properties.TopicAlias != nil: // CONNACK said Topic Alias Maximum 0 [MQTT-3.2.2-17]
		return &reasonError{packets.DisconnectTopicAliasInvalid, "topic alias"}
	}
	ok := c.s.deliver(c, p)
	if p.QoS == 0 {
		return nil // refused or not, nothing is said at QoS 0
	}
	ack := &packets.Puback{PacketID: p.PacketID, ReasonCode: packets.PubackSuccess}
	if !ok {
		ack.ReasonCode = packets.PubackNotAuthorized
	}
	return c.write(ack)
}

// subscribe grants trigger/<own name> only, and at QoS 0 whatever was
// asked: a server may grant less (§3.8.4), and QoS 0 delivery needs no
// packet ids, in-flight window or resending, which a session that ends
// with its connection could not honour across a reconnect anyway.
func (c *conn) subscribe(p *packets.Subscribe) error {
	if len(p.Subscriptions) == 0 {
		return &reasonError{packets.DisconnectProtocolError, "SUBSCRIBE without a filter"} // [MQTT-3.8.3-2]
	}
	codes := make([]byte, len(p.Subscriptions))
	for i, o := range p.Subscriptions {
		codes[i] = packets.SubackNotauthorized
		if c.s.mayRead(c, o.Topic) {
			c.s.setSub(c, subscription{on: true, noLocal: o.NoLocal})
			codes[i] = 0 // granted QoS 0
		}
	}
	return c.write(&packets.Suback{PacketID: p.PacketID, Reasons: codes})
}

func (c *conn) unsubscribe(p *packets.Unsubscribe) error {
	if len(p.Topics) == 0 {
		return &reasonError{packets.DisconnectProtocolError, "UNSUBSCRIBE without a filter"} // [MQTT-3.10.3-2]
	}
	codes := make([]byte, len(p.Topics))
	for i, t := range p.Topics {
		codes[i] = packets.UnsubackNoSubscriptionFound
		if c.s.unsubscribe(c, t) {
			codes[i] = packets.UnsubackSuccess
		}
	}
	return c.write(&packets.Unsuback{PacketID: p.PacketID, Reasons: codes})
}

// send hands a trigger on, unless it is larger than the client takes
// [MQTT-3.1.2-24]; a failed write has closed the client's connection.
func (c *conn) send(p *packets.Publish) {
	if c.maxOut > 0 && publishSize(p) > c.maxOut {
		c.s.log.Warn("local IPC trigger dropped: larger than the client takes", "client_id", c.id, "max", c.maxOut)
		return
	}
	if err := c.write(p); err != nil {
		c.s.log.Warn("local IPC trigger not delivered", "client_id", c.id, "err", err)
	}
}

// write sends one packet within writeTimeout; on failure it closes the
// connection, so that the client's goroutine ends.
func (c *conn) write(p io.WriterTo) error {
	if c.v311 {
		if p = v311Packet(p); p == nil {
			return nil
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := p.WriteTo(c.nc); err != nil {
		c.nc.Close()
		return fmt.Errorf("writing to the client: %w", err)
	}
	return nil
}

// readPacket reads one packet of at most max bytes. An MQTT 5 packet goes
// to paho straight from the connection; a 3.1.1 one is read whole first.
func (c *conn) readPacket(max int) (*packets.ControlPacket, error) {
	hdr, length, err := readFixed(c.br, max)
	if err != nil {
		return nil, err
	}
	if !c.v311 {
		return parseV5(c.br, hdr, length)
	}
	body, err := readBody(c.br, length)
	if err != nil {
		return nil, err
	}
	return parseV311(hdr[0], body)
}

// parseV5 reads a packet's body of length bytes from r with paho.
func parseV5(r io.Reader, hdr []byte, length int) (*packets.ControlPacket, error) {
	if hdr[0]>>4 == packets.DISCONNECT && length == 0 { // reason 0 and no properties, left out (§3.14.2.1)
		return &packets.ControlPacket{Content: &packets.Disconnect{}, FixedHeader: packets.FixedHeader{Type: packets.DISCONNECT}}, nil
	}
	body := &io.LimitedReader{R: r, N: int64(length)}
	pk, err := packets.ReadPacket(io.MultiReader(bytes.NewReader(hdr), body))
	switch {
	case err != nil && body.N > 0:
		return nil, err // the stream ended within the packet
	case err != nil:
		return nil, malformed(err.Error())
	}
	return pk, nil
}

// readFixed reads and checks a fixed header of a packet of at most max
// bytes. paho's ReadPacket believes any length a header announces (up to
// 256 MiB, allocated before it arrives) and reads any number of length
// bytes, so the fixed header is read and checked here.
func readFixed(r *bufio.Reader, max int) (hdr []byte, length int, err error) {
	hdr, length, err = readHeader(r)
	if err != nil {
		return nil, 0, err
	}
	if err := checkFlags(hdr[0]); err != nil {
		return nil, 0, err
	}
	if len(hdr)+length > max {
		return nil, 0, &reasonError{packets.DisconnectPacketTooLarge, fmt.Sprintf("%d-byte packet", len(hdr)+length)}
	}
	return hdr, length, nil
}

func readBody(r io.Reader, length int) ([]byte, error) {
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err // the stream ended within the packet
	}
	return body, nil
}

// readHeader reads a fixed header: the type and flags byte and the
// remaining length, in at most 4 bytes [MQTT-1.5.5-1].
func readHeader(r *bufio.Reader) (hdr []byte, length int, err error) {
	b, err := r.ReadByte()
	if err != nil {
		return nil, 0, err
	}
	hdr = append(make([]byte, 0, 5), b)
	for shift := 0; ; shift += 7 {
		if shift == 28 {
			return nil, 0, malformed("remaining length longer than 4 bytes")
		}
		if b, err = r.ReadByte(); err != nil {
			return nil, 0, err
		}
		hdr = append(hdr, b)
		length |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			return hdr, length, nil
		}
	}
}

// checkFlags refuses the reserved packet type 0, reserved flags set
// [MQTT-2.1.3-1] and QoS 3 [MQTT-3.3.1-4].
func checkFlags(b byte) error {
	t, f := b>>4, b&0x0f
	want := byte(0)
	switch t {
	case 0:
		return malformed("packet type 0")
	case packets.PUBLISH:
		if f&0x06 == 0x06 {
			return malformed("PUBLISH at QoS 3")
		}
		return nil
	case packets.PUBREL, packets.SUBSCRIBE, packets.UNSUBSCRIBE:
		want = 0x02
	}
	if f != want {
		return malformed(fmt.Sprintf("packet type %d with flags %#x", t, f))
	}
	return nil
}

// publishSize is the size of p on the wire.
func publishSize(p *packets.Publish) int {
	n := 0
	for _, b := range p.Buffers() {
		n += len(b)
	}
	lenBytes := 1
	for v := n >> 7; v > 0; v >>= 7 {
		lenBytes++
	}
	return 1 + lenBytes + n
}
