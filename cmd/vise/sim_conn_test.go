package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise/infer"
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

// TestResultTemplate: a result written from a template is the one
// json.Marshal makes of infer.Synthetic's, byte for byte, for every kind.
func TestResultTemplate(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	d := &directDevice{name: "sim-0001", runID: "run"}
	for seq := range int64(25) {
		r := infer.Synthetic(int(seq), at)
		r.MsgID, r.Device, r.Component = fmt.Sprintf("run-%d", seq), "sim-0001", "vise.sim"
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(want), string(d.result(seq, at))); diff != "" {
			t.Errorf("result %d (-json.Marshal +template):\n%s", seq, diff)
		}
	}
}
