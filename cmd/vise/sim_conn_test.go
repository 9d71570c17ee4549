package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestBatchConn: packets written from many goroutines, each in several
// Writes under the connection's lock, arrive whole, none lost or mixed,
// including one larger than the flush bound; Close sends what is pending.
func TestBatchConn(t *testing.T) {
	client, server := net.Pipe()
	c := newBatchConn(client)
	const writers, each = 8, 50
	big := bytes.Repeat([]byte("x"), maxPending+1000)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(server)
		got <- b
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				l := c.(sync.Locker)
				l.Lock()
				fmt.Fprintf(c, "<%d", w)
				if w == 0 && i == 0 {
					c.Write(big)
				}
				fmt.Fprintf(c, ":%d>", i)
				l.Unlock()
			}
		})
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	stream := <-got
	stream = bytes.Replace(stream, big, nil, 1)
	next := make([]int, writers)
	for len(stream) > 0 {
		var w, i int
		n, err := fmt.Sscanf(string(stream), "<%d:%d>", &w, &i)
		if err != nil || n != 2 {
			t.Fatalf("a packet mixed with another at %q", stream[:min(len(stream), 40)])
		}
		if i != next[w] {
			t.Fatalf("writer %d: packet %d after %d", w, i, next[w]-1)
		}
		next[w]++
		stream = stream[bytes.IndexByte(stream, '>')+1:]
	}
	want := make([]int, writers)
	for i := range want {
		want[i] = each
	}
	if diff := cmp.Diff(want, next); diff != "" {
		t.Errorf("packets per writer (-want +got):\n%s", diff)
	}
}

// TestBatchConnWriteError: once a flush fails, the writes after it
// return the connection's error instead of piling up.
func TestBatchConnWriteError(t *testing.T) {
	client, server := net.Pipe()
	server.Close()
	c := newBatchConn(client)
	defer c.Close()
	l := c.(sync.Locker)
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for err == nil && time.Now().Before(deadline) { // poll: the flush runs on its own goroutine
		l.Lock()
		_, err = c.Write([]byte("packet"))
		l.Unlock()
		runtime.Gosched()
	}
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("write after a failed flush: got %v, want %v", err, io.ErrClosedPipe)
	}
}
