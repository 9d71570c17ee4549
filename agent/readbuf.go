package agent

import (
	"bufio"
	"context"
	"net"
)

// readBufferSize is how much of the server's bytes one read(2) can take:
// four full TLS records. Allocated per connection, and the agent keeps no
// connection idle, so it costs memory only while a request runs.
const readBufferSize = 64 << 10

// bufferedConn reads through a large buffer: crypto/tls asks the socket
// for about one record (16 KiB) at a time, and over a fast link each of
// those reads is a system call and, on the server's side, a window update.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// bufferedDial wraps dial (nil: a plain net.Dialer) so each connection
// reads through its own buffer.
func bufferedDial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &bufferedConn{Conn: c, r: bufio.NewReaderSize(c, readBufferSize)}, nil
	}
}
