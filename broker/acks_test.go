package broker

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/vise-edge/vise/pki"
)

// heldMessages is an Async handler that keeps every message unanswered
// until the test answers it, and checks that no more than limit are ever
// unanswered at once.
type heldMessages struct {
	t     *testing.T
	limit int
	mu    sync.Mutex
	held  map[string]func(error) // by payload
	got   int
}

func (h *heldMessages) handle(_ string, payload []byte, done func(error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.got++
	h.held[string(payload)] = done
	if len(h.held) > h.limit {
		h.t.Errorf("%d messages of one connection in the handler at once, more than Concurrent (%d)", len(h.held), h.limit)
	}
}

func (h *heldMessages) count() (held, got int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held), h.got
}

func (h *heldMessages) answer(payload string, err error) {
	h.mu.Lock()
	done := h.held[payload]
	delete(h.held, payload)
	h.mu.Unlock()
	done(err)
}

// A device's results are in the handler together, up to Concurrent, and
// are acknowledged in the order they were published, whatever the order
// of the answers, each with its own reason code.
func TestAsyncResultsAcknowledgedInOrder(t *testing.T) {
	ca := testCA(t)
	b := startEmbedded(t, ca, nil)
	h := &heldMessages{t: t, limit: 3, held: map[string]func(error){}}
	b.Add(Subscription{Filter: "vise/devices/+/inference/+", Async: h.handle, Concurrent: h.limit})
	conn := rawConnect(t, ca, b.Addr(), "cam-1")
	for id := uint16(1); id <= 5; id++ {
		rawPublish(t, conn, id, fmt.Sprint(id))
	}
	waitFor(t, "3 results in the handler at once", patience, func() bool { held, _ := h.count(); return held == 3 })

	// Answering the first lets the fourth in; the answers of 2 and 3 wait
	// for 1's, and go out with it.
	h.answer("3", nil)
	h.answer("2", errors.New("database away"))
	h.answer("1", nil)
	waitFor(t, "results 4 and 5 in the handler", patience, func() bool { _, got := h.count(); return got == 5 })
	h.answer("5", nil)
	h.answer("4", fmt.Errorf("flooding: %w", ErrOverQuota))

	type ack struct{ ID, Reason uint16 }
	var got []ack
	for range 5 {
		id, reason := rawPuback(t, conn)
		got = append(got, ack{id, uint16(reason)})
	}
	want := []ack{{1, 0}, {2, uint16(errNotTaken.Code)}, {3, 0}, {4, uint16(packets.ErrQuotaExceeded.Code)}, {5, 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PUBACKs (-want +got):\n%s", diff)
	}
}

// rawConn is an MQTT 5 connection spoken byte by byte, so the test sees
// the PUBACKs in the order they come (a client library matches them to
// its publishes and hides it).
type rawConn struct {
	*tls.Conn
	r *bufio.Reader
}

func rawConnect(t *testing.T, ca *pki.CA, addr, device string) *rawConn {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{deviceCert(t, ca, device)}, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var buf bytes.Buffer
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: device}}
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	c := &rawConn{Conn: conn, r: bufio.NewReader(conn)}
	if typ, body := rawPacket(t, c); typ != packets.Connack || len(body) < 2 || body[1] != 0 {
		t.Fatalf("CONNACK: type %d, %x", typ, body)
	}
	return c
}

func rawPublish(t *testing.T, c *rawConn, id uint16, payload string) {
	t.Helper()
	var buf bytes.Buffer
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 5, PacketID: id,
		TopicName: "vise/devices/cam-1/inference/vise.inspect", Payload: []byte(payload)}
	if err := pk.PublishEncode(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
}

// rawPacket reads one packet: its type and its body.
func rawPacket(t *testing.T, c *rawConn) (byte, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(patience))
	first, err := c.r.ReadByte()
	if err != nil {
		t.Fatal(err)
	}
	n, shift := 0, 0
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			t.Fatal(err)
		}
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			break
		}
		shift += 7
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		t.Fatal(err)
	}
	return first >> 4, body
}

// rawPuback reads a PUBACK: its packet id and reason code.
func rawPuback(t *testing.T, c *rawConn) (uint16, byte) {
	t.Helper()
	typ, body := rawPacket(t, c)
	if typ != packets.Puback || len(body) < 2 {
		t.Fatalf("packet type %d (%x), want a PUBACK", typ, body)
	}
	var reason byte
	if len(body) > 2 {
		reason = body[2]
	}
	return uint16(body[0])<<8 | uint16(body[1]), reason
}
