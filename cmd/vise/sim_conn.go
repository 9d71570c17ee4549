package main

import (
	"net"
	"runtime"
	"sync"
)

// maxPending is how much a batchConn gathers before a writer waits for
// the flush: a burst of results, not an unbounded queue.
const maxPending = 256 << 10

// batchConn gathers the packets paho writes on one device's MQTT
// connection and writes them to the TLS connection in one go per burst.
// paho writes a PUBLISH as three or four Writes, each of which would be a
// TLS record and a write(2) of its own: 3 records for a 1 KB result. Here
// the packets written while the last flush was under way go out together,
// as group commit does, so a burst costs one record and one system call,
// and a lone packet waits for no timer.
//
// It is the sync.Locker paho holds around each packet (so packets are
// never interleaved, as with packets.NewThreadSafeConn) and flushes when
// a packet is complete. A write error is returned by the Writes after it
// and closes the connection, so paho's reader sees the link go down.
type batchConn struct {
	net.Conn
	packet sync.Mutex // held by paho around one packet

	mu      sync.Mutex
	room    *sync.Cond // signalled when pending is written
	pending []byte
	err     error
	kick    chan struct{} // a complete packet waits
	closing sync.Once
	closed  chan struct{}
	flushed chan struct{} // the flusher has returned
}

func newBatchConn(c net.Conn) net.Conn {
	b := &batchConn{Conn: c, kick: make(chan struct{}, 1), closed: make(chan struct{}), flushed: make(chan struct{})}
	b.room = sync.NewCond(&b.mu)
	go b.flush()
	return b
}

func (b *batchConn) Lock() { b.packet.Lock() }

// Unlock ends a packet: it may go out now.
func (b *batchConn) Unlock() {
	b.packet.Unlock()
	b.wake()
}

func (b *batchConn) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.err == nil && len(b.pending) > 0 && len(b.pending)+len(p) > maxPending {
		b.wake() // a packet larger than the bound goes out in parts
		b.room.Wait()
	}
	if b.err != nil {
		return 0, b.err
	}
	b.pending = append(b.pending, p...)
	return len(p), nil
}

// flush writes what is pending each time a packet completes, until Close.
func (b *batchConn) flush() {
	defer close(b.flushed)
	var spare []byte
	for {
		select {
		case <-b.kick:
			// Let the publishers that are ready (a batch of PUBACKs frees
			// several at once) add their packets first: no timer, no wait
			// when nobody else is ready.
			runtime.Gosched()
		case <-b.closed:
			b.writePending(&spare) // what was written before Close goes out
			return
		}
		b.writePending(&spare)
	}
}

// writePending swaps the pending bytes for spare and writes them.
func (b *batchConn) writePending(spare *[]byte) {
	b.mu.Lock()
	out := b.pending
	b.pending = (*spare)[:0]
	failed := b.err != nil
	b.mu.Unlock()
	if len(out) > 0 && !failed {
		if _, err := b.Conn.Write(out); err != nil {
			b.mu.Lock()
			b.err = err
			b.mu.Unlock()
			b.Conn.Close()
		}
	}
	*spare = out
	b.mu.Lock()
	b.room.Broadcast()
	b.mu.Unlock()
}

// Close writes what is pending, then closes the connection.
func (b *batchConn) Close() error {
	b.closing.Do(func() { close(b.closed) })
	<-b.flushed
	b.mu.Lock()
	if b.err == nil {
		b.err = net.ErrClosed
	}
	b.room.Broadcast()
	b.mu.Unlock()
	return b.Conn.Close()
}
