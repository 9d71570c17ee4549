package main

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/google/go-cmp/cmp"
)

// TestRawLink: the raw publisher's packets are QoS 1 PUBLISHes paho's
// decoder reads back; its in-flight bound is the server's Receive Maximum
// less paho's share; a PUBACK is matched to its packet, a refusing one
// (0x97) counts as not acknowledged, paho's own PUBACK reaches paho, and a
// connection lost fails what it had in flight.
func TestRawLink(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	l := newRawLink()
	rc := l.wrap(c)
	defer rc.Close()
	toPaho := make(chan *packets.ControlPacket, 10)
	go func() { // paho's reader
		for {
			p, err := packets.ReadPacket(rc)
			if err != nil {
				close(toPaho)
				return
			}
			toPaho <- p
		}
	}()
	rm := uint16(pahoShare + 2)
	send(t, srv, &packets.Connack{Properties: &packets.Properties{ReceiveMaximum: &rm}})
	if p := <-toPaho; p.Type != packets.CONNACK {
		t.Fatalf("paho read %v, want the CONNACK", p)
	}
	l.start(32)
	if got := cap(l.slots); got != 2 {
		t.Fatalf("in-flight bound %d, want Receive Maximum %d less paho's %d", got, rm, pahoShare)
	}
	payload := bytes.Repeat([]byte("r"), 300) // a two-byte remaining length
	var scratch []byte
	for range 2 {
		l.slots <- struct{}{}
		l.publish("vise/d/cam-1/results/vise.sim", payload, &scratch)
	}
	select {
	case l.slots <- struct{}{}:
		t.Fatal("a third result went out with two slots")
	default:
	}
	var ids []uint16
	for range 2 {
		p, err := packets.ReadPacket(srv)
		if err != nil {
			t.Fatal(err)
		}
		pub, ok := p.Content.(*packets.Publish)
		if !ok || pub.QoS != 1 || pub.Topic != "vise/d/cam-1/results/vise.sim" || !bytes.Equal(pub.Payload, payload) || pub.PacketID < rawIDBase {
			t.Fatalf("server read %+v", p.Content)
		}
		ids = append(ids, pub.PacketID)
	}
	send(t, srv, &packets.Puback{PacketID: ids[0]})
	send(t, srv, &packets.Puback{PacketID: ids[1], ReasonCode: packets.PubackQuotaExceeded})
	send(t, srv, &packets.Puback{PacketID: 5}) // paho's own
	if p := <-toPaho; p.Type != packets.PUBACK || p.Content.(*packets.Puback).PacketID != 5 {
		t.Fatalf("paho read %+v, want its PUBACK 5", p.Content)
	}
	// Packets arrive in order: the raw acks were taken before paho's.
	l.mu.Lock()
	got := [3]int64{int64(len(l.lat)), l.failed, int64(len(l.slots))}
	l.mu.Unlock()
	if diff := cmp.Diff([3]int64{1, 1, 0}, got); diff != "" {
		t.Fatalf("acknowledged, not acknowledged, in flight (-want +got):\n%s", diff)
	}
	l.slots <- struct{}{}
	l.publish("vise/d/cam-1/results/vise.sim", payload, &scratch)
	srv.Close()
	for range toPaho { // paho sees the link go down
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed != 2 || len(l.slots) != 0 || len(l.inFlight) != 0 {
		t.Errorf("after the connection was lost: failed %d, in flight %d/%d, want 2, 0", l.failed, len(l.slots), len(l.inFlight))
	}
}

func send(t *testing.T, c net.Conn, p interface {
	WriteTo(w io.Writer) (int64, error)
}) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := p.WriteTo(c); err != nil {
		t.Fatal(err)
	}
}
