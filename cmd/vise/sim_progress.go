package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress tells the person at the terminal how a long simulation stands:
// a line on stderr when a count moves, at most one every 5 s, and always
// the last word of a phase, so a ten-minute rehearsal is not silent. The
// report stays on stdout.
type progress struct {
	w  io.Writer
	t0 time.Time

	mu   sync.Mutex
	last time.Time
	said string
}

func newProgress(w io.Writer) *progress { return &progress{w: w, t0: time.Now()} }

// say writes the line unless it repeats the last one, or comes within 5 s
// of it and is not final.
func (p *progress) say(final bool, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	p.mu.Lock()
	defer p.mu.Unlock()
	if line == p.said || (!final && time.Since(p.last) < 5*time.Second) {
		return
	}
	p.said, p.last = line, time.Now()
	fmt.Fprintf(p.w, "vise sim: %.0fs: %s\n", time.Since(p.t0).Seconds(), line)
}
