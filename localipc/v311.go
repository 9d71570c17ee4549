package localipc

import (
	"bytes"
	"encoding/binary"
	"io"
	"unicode/utf8"

	"github.com/eclipse/paho.golang/packets"
)

// MQTT 3.1.1, which many clients speak by default (mosquitto_pub, Python's
// paho-mqtt 1.x): the same packets as MQTT 5 without properties or reason
// codes. paho's codec reads MQTT 5 only, so a 3.1.1 connection's packets
// are read here into paho's types, and the answers written back in 3.1.1
// form (v311Packet); everything between is shared.

// isV3 tells a CONNECT body of MQTT 3.1.1 ("MQTT", level 4) or 3.1
// ("MQIsdp", level 3, refused in admit) from one of MQTT 5.
func isV3(body []byte) bool {
	return bytes.HasPrefix(body, []byte("\x00\x04MQTT\x04")) || bytes.HasPrefix(body, []byte("\x00\x06MQIsdp\x03"))
}

// parseV311 reads one 3.1.1 packet (its fixed header's first byte, and
// body) into paho's type for it; a type a client may not send comes back
// without content, for the loop to refuse.
func parseV311(b0 byte, body []byte) (*packets.ControlPacket, error) {
	t := b0 >> 4
	r := &v311Reader{b: body}
	var content packets.Packet
	switch t {
	case packets.CONNECT:
		content = r.connect()
	case packets.PUBLISH:
		p := &packets.Publish{QoS: b0 >> 1 & 3, Retain: b0&1 == 1, Duplicate: b0&8 == 8, Properties: &packets.Properties{}}
		p.Topic = r.str()
		if p.QoS > 0 {
			p.PacketID = r.u16()
		}
		p.Payload = r.rest()
		content = p
	case packets.SUBSCRIBE:
		s := &packets.Subscribe{PacketID: r.u16(), Properties: &packets.Properties{}}
		for r.more() {
			o := packets.SubOptions{Topic: r.str()}
			if q := r.byte(); q&^3 != 0 {
				r.fail() // reserved bits [MQTT-3-8.3-4]
			} else {
				o.QoS = q
			}
			s.Subscriptions = append(s.Subscriptions, o)
		}
		content = s
	case packets.UNSUBSCRIBE:
		u := &packets.Unsubscribe{PacketID: r.u16(), Properties: &packets.Properties{}}
		for r.more() {
			u.Topics = append(u.Topics, r.str())
		}
		content = u
	case packets.PINGREQ:
		content = &packets.Pingreq{}
	case packets.DISCONNECT:
		content = &packets.Disconnect{Properties: &packets.Properties{}}
	}
	if r.bad {
		return nil, malformed("MQTT 3.1.1 packet")
	}
	return &packets.ControlPacket{Content: content, FixedHeader: packets.FixedHeader{Type: t, Flags: b0 & 0x0f}}, nil
}

func (r *v311Reader) connect() *packets.Connect {
	c := &packets.Connect{ProtocolName: r.str(), ProtocolVersion: r.byte(), Properties: &packets.Properties{}}
	flags := r.byte()
	if flags&1 != 0 {
		r.fail() // reserved [MQTT-3.1.2-3]
	}
	c.CleanStart, c.UsernameFlag, c.PasswordFlag = flags&2 != 0, flags&0x80 != 0, flags&0x40 != 0
	c.KeepAlive = r.u16()
	c.ClientID = r.str()
	if flags&4 != 0 { // a will: read past, ignored as in MQTT 5 (conn.go)
		r.str()
		r.bin()
	}
	if c.UsernameFlag {
		c.Username = r.str()
	}
	if c.PasswordFlag {
		c.Password = r.bin()
	}
	if r.more() {
		r.fail()
	}
	return c
}

// v311Reader reads a packet body; a read past its end or a string that is
// not UTF-8 marks it bad, and the packet is refused as malformed.
type v311Reader struct {
	b   []byte
	bad bool
}

func (r *v311Reader) fail()      { r.bad, r.b = true, nil }
func (r *v311Reader) more() bool { return len(r.b) > 0 }

func (r *v311Reader) take(n int) []byte {
	if len(r.b) < n {
		r.fail()
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *v311Reader) byte() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *v311Reader) u16() uint16 {
	if b := r.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (r *v311Reader) bin() []byte { return r.take(int(r.u16())) }

func (r *v311Reader) str() string {
	b := r.bin()
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 { // [MQTT-1.5.3-1] [MQTT-1.5.3-2]
		r.fail()
	}
	return string(b)
}

func (r *v311Reader) rest() []byte {
	b := r.b
	r.b = nil
	return b
}

// v311Packet writes an answer in 3.1.1 form; nil for a DISCONNECT, which
// a 3.1.1 server does not send: closing the connection says it.
func v311Packet(p io.WriterTo) io.WriterTo {
	id := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	switch p := p.(type) {
	case *packets.Connack:
		return frame(packets.CONNACK<<4, []byte{0, v311Connack[p.ReasonCode]})
	case *packets.Puback: // no reason code: a refused publish is acknowledged and dropped [MQTT-3.3.5-2]
		return frame(packets.PUBACK<<4, id(p.PacketID))
	case *packets.Suback:
		b := id(p.PacketID)
		for _, r := range p.Reasons {
			b = append(b, min(r, 0x80)) // granted QoS, or 0x80 failure
		}
		return frame(packets.SUBACK<<4, b)
	case *packets.Unsuback:
		return frame(packets.UNSUBACK<<4, id(p.PacketID))
	case *packets.Pingresp:
		return frame(packets.PINGRESP<<4, nil)
	case *packets.Publish: // triggers, at QoS 0 (conn.subscribe)
		b := append(id(uint16(len(p.Topic))), p.Topic...)
		return frame(packets.PUBLISH<<4, append(b, p.Payload...))
	}
	return nil
}

// v311Connack maps the MQTT 5 reasons admit gives to 3.1.1's return codes.
var v311Connack = map[byte]byte{
	packets.ConnackSuccess:                    0,
	packets.ConnackUnsupportedProtocolVersion: 1,
	packets.ConnackInvalidClientID:            2,
	packets.ConnackBadUsernameOrPassword:      4,
	packets.ConnackBadAuthenticationMethod:    4,
	packets.ConnackNotAuthorized:              5,
}

// frame is a packet: the type and flags byte, the remaining length, body.
func frame(b0 byte, body []byte) *bytes.Buffer {
	out := bytes.NewBuffer(make([]byte, 0, 5+len(body)))
	out.WriteByte(b0)
	n := len(body)
	for {
		b := byte(n & 0x7f)
		if n >>= 7; n > 0 {
			b |= 0x80
		}
		out.WriteByte(b)
		if n == 0 {
			break
		}
	}
	out.Write(body)
	return out
}
