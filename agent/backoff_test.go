package agent

import (
	"math/rand/v2"
	"testing"
	"time"
)

// Delays are spread over [0, ceiling), the ceiling doubling per attempt up
// to the maximum: a fleet that lost its broker at once does not come back
// at once.
func TestBackoffJitter(t *testing.T) {
	b := backoff{base: time.Second, max: 10 * time.Second, rand: rand.New(rand.NewPCG(1, 2)).Int64N}
	for _, tc := range []struct {
		attempt int
		ceil    time.Duration
	}{{0, time.Second}, {1, 2 * time.Second}, {3, 8 * time.Second}, {4, 10 * time.Second}, {40, 10 * time.Second}, {1 << 20, 10 * time.Second}} {
		const n = 2000
		seen := map[time.Duration]bool{}
		var lo, hi time.Duration = tc.ceil, 0
		for range n {
			d := b.delay(tc.attempt)
			if d < 0 || d >= tc.ceil {
				t.Fatalf("attempt %d: delay %s outside [0, %s)", tc.attempt, d, tc.ceil)
			}
			seen[d] = true
			lo, hi = min(lo, d), max(hi, d)
		}
		// Uniform over the range: both ends reached, few repeats.
		if lo > tc.ceil/20 || hi < tc.ceil*19/20 || len(seen) < n*9/10 {
			t.Errorf("attempt %d: %d distinct delays in [%s, %s] of [0, %s): not spread", tc.attempt, len(seen), lo, hi, tc.ceil)
		}
	}
}

// The agent's first connection is not delayed; after the link was up once,
// even the first retry is jittered.
func TestReconnectDelay(t *testing.T) {
	a := &Agent{}
	f := a.reconnectDelay(backoff{base: time.Second, max: time.Minute, rand: func(n int64) int64 { return n - 1 }})
	if d := f(0); d != 0 {
		t.Errorf("first connection waits %s, want 0", d)
	}
	if d := f(1); d != 2*time.Second-1 {
		t.Errorf("second attempt waits %s, want just under 2s", d)
	}
	a.wasUp.Store(true)
	if d := f(0); d != time.Second-1 {
		t.Errorf("first attempt after the link dropped waits %s, want the jittered base (just under 1s)", d)
	}
}
