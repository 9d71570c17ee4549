package localipc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// These tests speak MQTT by hand where paho will not send what they need
// (wildcards the server said it does not take, QoS 2, garbage).

// startIPC starts an endpoint whose handlers drop everything.
func startIPC(t *testing.T) *Server {
	t.Helper()
	i, err := Start("127.0.0.1:0", slog.New(slog.DiscardHandler), func(string, []byte) {}, func(string, []byte) {}, func(string, []byte) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { i.Close() })
	return i
}

// rawConn is a client connection without a client library.
type rawConn struct {
	t *testing.T
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, i *Server) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", i.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second)) // no test waits longer
	return &rawConn{t: t, Conn: nc, r: bufio.NewReader(nc)}
}

func (c *rawConn) send(p io.WriterTo) {
	c.t.Helper()
	if _, err := p.WriteTo(c); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawConn) recv() *packets.ControlPacket {
	c.t.Helper()
	pk, err := packets.ReadPacket(c.r)
	if err != nil {
		c.t.Fatalf("reading from the endpoint: %v", err)
	}
	return pk
}

// connect logs in as user with keepAlive seconds and returns the CONNACK.
func (c *rawConn) connect(id, user, password string, keepAlive uint16) *packets.Connack {
	c.t.Helper()
	c.send(connectPacket(id, user, password, keepAlive))
	ack, ok := c.recv().Content.(*packets.Connack)
	if !ok {
		c.t.Fatal("no CONNACK")
	}
	return ack
}

func connectPacket(id, user, password string, keepAlive uint16) *packets.Connect {
	return &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, ClientID: id, CleanStart: true, KeepAlive: keepAlive,
		Username: user, UsernameFlag: true, Password: []byte(password), PasswordFlag: true, Properties: &packets.Properties{}}
}

// closedAfter reads until the endpoint closes the connection and returns
// the packets it sent first; it fails if it stays open.
func (c *rawConn) closedAfter() []*packets.ControlPacket {
	c.t.Helper()
	var got []*packets.ControlPacket
	for {
		pk, err := packets.ReadPacket(c.r)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			c.t.Fatalf("the endpoint left the connection open (after %d packets)", len(got))
		case err != nil:
			return got
		}
		got = append(got, pk)
	}
}

// disconnectReason is the reason of the one DISCONNECT in pks, or -1.
func disconnectReason(pks []*packets.ControlPacket) int {
	if len(pks) == 1 {
		if d, ok := pks[0].Content.(*packets.Disconnect); ok {
			return int(d.ReasonCode)
		}
	}
	return -1
}

// stillServes fails unless cl can still publish its status at QoS 1.
func stillServes(t *testing.T, cl *paho.Client, comp string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cl.Publish(ctx, &paho.Publish{Topic: "status/" + comp, QoS: 1, Payload: []byte(`{}`)}); err != nil {
		t.Errorf("another client was disturbed: %v", err)
	}
}

// The CONNACK tells clients what the endpoint does not do, so that they
// do not try it.
func TestIPCConnackProperties(t *testing.T) {
	i := startIPC(t)
	ack := dialRaw(t, i).connect("cam-1", "cam", i.Token(), 30)
	p := ack.Properties
	if ack.ReasonCode != 0 || ack.SessionPresent {
		t.Fatalf("CONNACK %v", ack)
	}
	for name, v := range map[string]*byte{"RetainAvailable": p.RetainAvailable, "WildcardSubAvailable": p.WildcardSubAvailable,
		"SharedSubAvailable": p.SharedSubAvailable, "SubIDAvailable": p.SubIDAvailable} {
		if v == nil || *v != 0 {
			t.Errorf("%s not 0", name)
		}
	}
	if p.TopicAliasMaximum == nil || *p.TopicAliasMaximum != 0 || p.MaximumQOS == nil || *p.MaximumQOS != 1 ||
		p.MaximumPacketSize == nil || *p.MaximumPacketSize != 8<<20 {
		t.Errorf("CONNACK properties %v; want no topic aliases, QoS 1 at most, 8 MiB packets", p)
	}
}

// A component may subscribe to its own triggers only: not to another's,
// nor to anything with a wildcard, nor to a topic it publishes.
func TestIPCSubscribeACL(t *testing.T) {
	i := startIPC(t)
	c := dialRaw(t, i)
	c.connect("cam-1", "cam", i.Token(), 0)
	filters := []string{"trigger/cam", "trigger/other", "trigger/+", "trigger/#", "#", "results/cam", "$share/g/trigger/cam"}
	sub := &packets.Subscribe{PacketID: 7, Properties: &packets.Properties{}}
	for _, f := range filters {
		sub.Subscriptions = append(sub.Subscriptions, packets.SubOptions{Topic: f, QoS: 1})
	}
	c.send(sub)
	ack, ok := c.recv().Content.(*packets.Suback)
	if !ok || ack.PacketID != 7 {
		t.Fatalf("got %v, want SUBACK 7", ack)
	}
	want := []byte{0x00, 0x87, 0x87, 0x87, 0x87, 0x87, 0x87}
	if !bytes.Equal(ack.Reasons, want) {
		t.Errorf("SUBACK reasons for %q: %x, want %x", filters, ack.Reasons, want)
	}
	c.send(&packets.Unsubscribe{PacketID: 8, Topics: []string{"trigger/cam", "trigger/cam", "trigger/other"}, Properties: &packets.Properties{}})
	unack, ok := c.recv().Content.(*packets.Unsuback)
	if want := []byte{0x00, 0x11, 0x11}; !ok || !bytes.Equal(unack.Reasons, want) {
		t.Errorf("UNSUBACK %v, want reasons %x", unack, want)
	}
}

// A packet over the 8 MiB the CONNACK announced disconnects its client
// (0x95) before it is read; other clients go on.
func TestIPCOversizePacket(t *testing.T) {
	i := startIPC(t)
	other := ipcClient(t, i, "other", func(string, []byte) {})
	c := dialRaw(t, i)
	c.connect("cam-1", "cam", i.Token(), 0)
	// A PUBLISH whose remaining length is 8 MiB: with its header, over.
	c.Write([]byte{0x30, 0x80, 0x80, 0x80, 0x04, 0, 10})
	if r := disconnectReason(c.closedAfter()); r != packets.DisconnectPacketTooLarge {
		t.Errorf("disconnect reason %#x, want packet too large", r)
	}
	stillServes(t, other, "other")
}

// A client that is silent for 1.5 times its keepalive is disconnected.
func TestIPCKeepAlive(t *testing.T) {
	i := startIPC(t)
	c := dialRaw(t, i)
	c.connect("cam-1", "cam", i.Token(), 1)
	c.send(&packets.Pingreq{})
	if _, ok := c.recv().Content.(*packets.Pingresp); !ok {
		t.Fatal("no PINGRESP")
	}
	start := time.Now()
	if r := disconnectReason(c.closedAfter()); r != packets.DisconnectKeepAliveTimeout {
		t.Errorf("disconnect reason %#x, want keepalive timeout", r)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("disconnected after %v, before 1.5 times the 1 s keepalive", d)
	}
}

// A second connection with a client id takes over from the first
// [MQTT-3.1.4-3], which is told so and closed.
func TestIPCClientIDTakeover(t *testing.T) {
	i := startIPC(t)
	gone := make(chan byte, 1)
	conn, err := net.Dial("tcp", i.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	first := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(conn),
		OnServerDisconnect: func(d *paho.Disconnect) { gone <- d.ReasonCode }})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := first.Connect(ctx, &paho.Connect{ClientID: "cam-1", CleanStart: true, KeepAlive: 30,
		Username: "cam", UsernameFlag: true, Password: []byte(i.Token()), PasswordFlag: true}); err != nil {
		t.Fatal(err)
	}
	second := dialRaw(t, i)
	if ack := second.connect("cam-1", "cam", i.Token(), 30); ack.ReasonCode != 0 {
		t.Fatalf("second connection refused: %v", ack)
	}
	select {
	case r := <-gone:
		if r != packets.DisconnectSessionTakenOver {
			t.Errorf("first connection told %#x, want session taken over", r)
		}
	case <-ctx.Done():
		t.Fatal("first connection not dropped")
	}
	select {
	case <-first.Done():
	case <-ctx.Done():
		t.Fatal("first connection still open")
	}
	second.send(&packets.Pingreq{})
	if _, ok := second.recv().Content.(*packets.Pingresp); !ok {
		t.Error("second connection does not answer")
	}
}

// Whatever comes first other than a CONNECT of MQTT 5 or 3.1.1 (v311_test.go)
// closes that connection, and only that one.
func TestIPCBadFirstPacket(t *testing.T) {
	v6 := connectPacket("cam-1", "cam", "t", 0)
	v6.ProtocolVersion = 6
	var v6b bytes.Buffer
	v6.WriteTo(&v6b)
	for _, tc := range []struct {
		name string
		data []byte
		ack  int // the CONNACK reason expected before the close; -1: none
	}{
		{"text", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), -1},
		{"PINGREQ", []byte{0xc0, 0}, -1},
		{"PUBLISH", []byte{0x30, 9, 0, 7, 's', 't', 'a', 't', 'u', 's', '/'}, -1},
		{"remaining length of 5 bytes", []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x01}, -1},
		{"CONNECT over 64 KiB", []byte{0x10, 0x81, 0x80, 0x04}, -1},
		{"protocol version 6", v6b.Bytes(), packets.ConnackUnsupportedProtocolVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := startIPC(t)
			other := ipcClient(t, i, "other", func(string, []byte) {})
			c := dialRaw(t, i)
			c.Write(tc.data)
			got := c.closedAfter()
			switch {
			case tc.ack == -1 && len(got) > 0:
				t.Errorf("answered %v", got)
			case tc.ack >= 0 && (len(got) != 1 || got[0].Type != packets.CONNACK || int(got[0].Content.(*packets.Connack).ReasonCode) != tc.ack):
				t.Errorf("answered %v, want CONNACK %#x", got, tc.ack)
			}
			stillServes(t, other, "other")
		})
	}
}

// What a client must not send after CONNECT ends its connection with the
// reason it broke.
func TestIPCProtocolErrors(t *testing.T) {
	pub := func(qos byte, retain bool, alias bool) *packets.Publish {
		p := &packets.Publish{Topic: "status/cam", QoS: qos, Retain: retain, PacketID: 1, Properties: &packets.Properties{}}
		if alias {
			a := uint16(1)
			p.Properties.TopicAlias = &a
		}
		return p
	}
	raw := func(b ...byte) io.WriterTo { return bytes.NewBuffer(b) }
	for _, tc := range []struct {
		name string
		send io.WriterTo
		want int
	}{
		{"QoS 2", pub(2, false, false), packets.DisconnectQoSNotSupported},
		{"retain", pub(1, true, false), packets.DisconnectRetainNotSupported},
		{"topic alias", pub(1, false, true), packets.DisconnectTopicAliasInvalid},
		{"QoS 3", raw(0x36, 4, 0, 0, 0, 1), packets.DisconnectMalformedPacket},
		{"second CONNECT", connectPacket("cam-1", "cam", "x", 0), packets.DisconnectProtocolError},
		{"PUBREL", raw(0x62, 2, 0, 1), packets.DisconnectProtocolError},
		{"SUBSCRIBE with flags 0", raw(0x80, 8, 0, 1, 0, 0, 2, 'a', 'b', 0), packets.DisconnectMalformedPacket},
		{"SUBSCRIBE without a filter", raw(0x82, 3, 0, 1, 0), packets.DisconnectProtocolError},
		{"truncated topic", raw(0x30, 2, 0, 5), packets.DisconnectMalformedPacket},
		{"property not of a PUBLISH", raw(0x30, 6, 0, 1, 'a', 2, 0x11, 0), packets.DisconnectMalformedPacket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := startIPC(t)
			c := dialRaw(t, i)
			c.connect("cam-1", "cam", i.Token(), 0)
			c.send(tc.send)
			if r := disconnectReason(c.closedAfter()); r != tc.want {
				t.Errorf("disconnect reason %#x, want %#x", r, tc.want)
			}
		})
	}
}

// Close returns with clients connected, in every state, and leaves none
// of the endpoint's goroutines behind.
func TestIPCCloseWithClients(t *testing.T) {
	before := runtime.NumGoroutine()
	i, err := Start("127.0.0.1:0", slog.New(slog.DiscardHandler), func(string, []byte) {}, func(string, []byte) {}, func(string, []byte) {})
	if err != nil {
		t.Fatal(err)
	}
	connected := dialRaw(t, i)
	connected.connect("cam-1", "cam", i.Token(), 0)
	subscribed := dialRaw(t, i)
	subscribed.connect("plc-1", "plc", i.Token(), 0)
	subscribed.send(&packets.Subscribe{PacketID: 1, Subscriptions: []packets.SubOptions{{Topic: "trigger/plc"}}, Properties: &packets.Properties{}})
	subscribed.recv()
	silent := dialRaw(t, i) // has not sent CONNECT
	halfway := dialRaw(t, i)
	halfway.Write([]byte{0x30, 100, 0}) // within a packet
	done := make(chan error)
	go func() { done <- i.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	for _, c := range []*rawConn{connected, subscribed, silent, halfway} {
		c.closedAfter()
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
	}
	if err := i.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// FuzzConn feeds arbitrary bytes to the endpoint as a client's stream,
// after a valid CONNECT or instead of it: the endpoint must neither panic
// nor hang, and must close the connection once the stream ends.
func FuzzConn(f *testing.F) {
	packet := func(p io.WriterTo) []byte {
		var b bytes.Buffer
		p.WriteTo(&b)
		return b.Bytes()
	}
	f.Add(true, packet(&packets.Publish{Topic: "results/cam", QoS: 1, PacketID: 1, Payload: []byte(`{}`), Properties: &packets.Properties{}}))
	f.Add(true, slices.Concat(
		packet(&packets.Subscribe{PacketID: 1, Subscriptions: []packets.SubOptions{{Topic: "trigger/cam", QoS: 1}}, Properties: &packets.Properties{}}),
		packet(&packets.Publish{Topic: "trigger/cam", Payload: []byte(`{"part_id":"P"}`), Properties: &packets.Properties{}}),
		packet(&packets.Unsubscribe{PacketID: 2, Topics: []string{"trigger/cam"}, Properties: &packets.Properties{}}),
		packet(&packets.Pingreq{}), packet(&packets.Disconnect{Properties: &packets.Properties{}})))
	f.Add(true, []byte{0x30, 0xff, 0xff, 0xff, 0x7f})
	f.Add(false, packet(connectPacket("x", "cam", "wrong", 10)))
	f.Add(false, []byte("\x10\x00garbage"))
	// MQTT 3.1.1: a CONNECT whose password placeholder becomes the token,
	// then a publish, a subscribe and a disconnect.
	token := strings.Repeat("@", len(rand.Text()))
	v311 := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0xc2, 0, 0, 0, 1, 'f', 0, 3, 'c', 'a', 'm', 0, byte(len(token))}
	f.Add(false, slices.Concat(frame(0x10, append(v311, token...)).Bytes(),
		frame(0x32, []byte{0, 11, 'r', 'e', 's', 'u', 'l', 't', 's', '/', 'c', 'a', 'm', 0, 1, '{', '}'}).Bytes(),
		frame(0x82, []byte{0, 1, 0, 11, 't', 'r', 'i', 'g', 'g', 'e', 'r', '/', 'c', 'a', 'm', 0}).Bytes(), []byte{0xe0, 0}))
	i, err := Start("127.0.0.1:0", slog.New(slog.DiscardHandler), func(string, []byte) {}, func(string, []byte) {}, func(string, []byte) {})
	if err != nil {
		f.Fatal(err)
	}
	defer i.Close()
	f.Fuzz(func(t *testing.T, afterConnect bool, data []byte) {
		c := dialRaw(t, i)
		data = bytes.ReplaceAll(data, []byte(token), []byte(i.Token()))
		if afterConnect {
			c.connect("fuzz", "cam", i.Token(), 0)
		}
		go func() { c.Write(data); c.Conn.(*net.TCPConn).CloseWrite() }()
		var ne net.Error
		if _, err := io.Copy(io.Discard, c.r); errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the endpoint did not close the connection after the stream ended")
		}
	})
}
