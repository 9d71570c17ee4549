package ingest

import (
	"sync"
	"time"
)

// Default per-device result rate: seven times a 30 fps camera, and a burst
// that lets an outbox drain ten seconds' worth at once after an outage.
const (
	DefaultDeviceRate  = 200
	DefaultDeviceBurst = 2000
)

// deviceRates holds each device to its own token bucket, so one device
// flooding results is answered "not now" while the others' results go on
// to the batch it would otherwise fill.
type deviceRates struct {
	rate, burst float64
	now         func() time.Time
	mu          sync.Mutex
	buckets     map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newDeviceRates(rate float64, burst int, now func() time.Time) *deviceRates {
	return &deviceRates{rate: rate, burst: float64(max(burst, 1)), now: now, buckets: map[string]*bucket{}}
}

// allow takes a token from device's bucket, if it has one.
func (d *deviceRates) allow(device string) bool {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	b, ok := d.buckets[device]
	if !ok {
		b = &bucket{tokens: d.burst, at: now}
		d.buckets[device] = b
	}
	b.tokens = min(d.burst, b.tokens+now.Sub(b.at).Seconds()*d.rate)
	b.at = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
