package faults

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrLinkCut is what a dial over a cut link returns.
var ErrLinkCut = errors.New("network unreachable (fault rehearsal: link cut)")

// Link is one device's network: every connection its agent opens (HTTPS
// and MQTT) goes through Dial, so Cut can drop them all at once and refuse
// new ones until Restore, as a pulled cable would.
type Link struct {
	mu    sync.Mutex
	cut   bool
	conns map[*conn]struct{}
	dead  bool // Kill: cut for good
	dials map[string]int64

	cuts  atomic.Int64 // connections this link cut
	drops atomic.Int64 // connections the other end (or the network) ended
}

// Dial opens a TCP connection unless the link is cut.
func (l *Link) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	l.mu.Lock()
	cut := l.cut
	l.mu.Unlock()
	if cut {
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrLinkCut}
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	w := &conn{Conn: c, l: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut { // cut while dialling
		c.Close()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrLinkCut}
	}
	if l.conns == nil {
		l.conns = map[*conn]struct{}{}
	}
	if l.dials == nil {
		l.dials = map[string]int64{}
	}
	l.conns[w] = struct{}{}
	l.dials[addr]++
	return w, nil
}

// Dials is how many connections to addr this link opened.
func (l *Link) Dials(addr string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dials[addr]
}

// Cut drops every open connection and refuses new ones.
func (l *Link) Cut() {
	l.mu.Lock()
	l.cut = true
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	for c := range conns {
		c.byCut.Store(true)
		c.Conn.Close()
		l.cuts.Add(1)
	}
}

// Restore lets connections through again (not after Kill).
func (l *Link) Restore() {
	l.mu.Lock()
	l.cut = l.dead
	l.mu.Unlock()
}

// Kill cuts the link for good: what an agent that was killed left behind
// must not reach the server again.
func (l *Link) Kill() {
	l.mu.Lock()
	l.dead = true
	l.mu.Unlock()
	l.Cut()
}

// Cuts is how many connections Cut dropped.
func (l *Link) Cuts() int64 { return l.cuts.Load() }

// Drops is how many connections ended by the other side or the network
// (a server killed, a broker restarted), not by this device or a cut.
func (l *Link) Drops() int64 { return l.drops.Load() }

type conn struct {
	net.Conn
	l      *Link
	byCut  atomic.Bool
	closed atomic.Bool
	once   sync.Once
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && !c.closed.Load() && !c.byCut.Load() && !isTimeout(err) {
		c.once.Do(func() { c.l.drops.Add(1) })
	}
	if err != nil && c.byCut.Load() {
		err = &net.OpError{Op: "read", Net: "tcp", Err: ErrLinkCut}
	}
	return n, err
}

func (c *conn) Close() error {
	c.closed.Store(true)
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// Disk is a device's disk that can be made full: Check is called before
// each write the agent's queue makes.
type Disk struct {
	full    atomic.Bool
	refused atomic.Int64
}

// Fill makes every write fail with ENOSPC until Free.
func (d *Disk) Fill() { d.full.Store(true) }

// Free lets writes through again.
func (d *Disk) Free() { d.full.Store(false) }

// Check is nil unless the disk is full; a refusal is counted.
func (d *Disk) Check() error {
	if d.full.Load() {
		d.refused.Add(1)
		return syscall.ENOSPC
	}
	return nil
}

// Refused is how many writes the full disk refused.
func (d *Disk) Refused() int64 { return d.refused.Load() }

// Clock is a device's clock, off by an offset once skewed.
type Clock struct{ off atomic.Int64 }

// Skew moves the clock by d (adding to any earlier skew).
func (c *Clock) Skew(d time.Duration) { c.off.Add(int64(d)) }

// Offset is how far the clock is off.
func (c *Clock) Offset() time.Duration { return time.Duration(c.off.Load()) }

// Now is the device's time.
func (c *Clock) Now() time.Time { return time.Now().Add(c.Offset()) }
