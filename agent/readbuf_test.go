package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
)

// TestBufferedDialReadsAhead: one small read takes everything the peer has
// sent in one go (one read(2) on a socket), and the bytes come out intact.
func TestBufferedDialReadsAhead(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	dial := bufferedDial(func(context.Context, string, string) (net.Conn, error) { return client, nil })
	c, err := dial(context.Background(), "tcp", "server:443")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sent := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB, one write
	go server.Write(sent)

	first := make([]byte, 100)
	if _, err := io.ReadFull(c, first); err != nil {
		t.Fatal(err)
	}
	bc, ok := c.(*bufferedConn)
	if !ok {
		t.Fatalf("dial returned %T, want a *bufferedConn", c)
	}
	if got, want := bc.r.Buffered(), len(sent)-len(first); got != want {
		t.Fatalf("read ahead after the first 100 bytes = %d, want %d (the rest of the one write)", got, want)
	}
	rest := make([]byte, len(sent)-len(first))
	if _, err := io.ReadFull(c, rest); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(first, rest...), sent) {
		t.Fatal("bytes read through the buffer differ from those sent")
	}
}

func TestBufferedDialError(t *testing.T) {
	refused := errors.New("connection refused")
	dial := bufferedDial(func(context.Context, string, string) (net.Conn, error) { return nil, refused })
	if _, err := dial(context.Background(), "tcp", "server:443"); !errors.Is(err, refused) {
		t.Fatalf("dial error = %v, want %v", err, refused)
	}
}
