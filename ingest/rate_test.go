package ingest

import (
	"testing"
	"time"
)

// Each device has its own bucket: a burst, then the rate.
func TestDeviceRates(t *testing.T) {
	now := time.Unix(0, 0)
	d := newDeviceRates(10, 5, func() time.Time { return now })
	for _, step := range []struct {
		advance time.Duration
		device  string
		sends   int
		allowed int
	}{
		{0, "flood", 8, 5},                      // the burst
		{0, "calm", 3, 3},                       // another device's own burst
		{100 * time.Millisecond, "flood", 3, 1}, // 10/s: one more after 0.1 s
		{time.Hour, "flood", 9, 5},              // refills to the burst, no further
	} {
		now = now.Add(step.advance)
		got := 0
		for range step.sends {
			if d.allow(step.device) {
				got++
			}
		}
		if got != step.allowed {
			t.Errorf("after %v, %s: %d of %d allowed, want %d", step.advance, step.device, got, step.sends, step.allowed)
		}
	}
}
