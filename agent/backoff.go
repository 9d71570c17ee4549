package agent

import (
	"math/rand/v2"
	"time"
)

// backoff is how long an agent waits before broker connection attempt n
// (n = 0 is the first after the link dropped): "full jitter", uniform in
// [0, min(max, base·2ⁿ)). When a broker restarts, every device loses its
// link in the same instant; without jitter they would all come back in
// the same instant too, and again on every retry. Spread out, the server
// takes a fleet's TLS handshakes over seconds instead of at once.
type backoff struct {
	base, max time.Duration
	rand      func(n int64) int64 // [0, n); rand.Int64N
}

// Broker reconnect delays: the first within 3 s, doubling to 2 minutes.
const (
	reconnectBase = 3 * time.Second
	reconnectMax  = 2 * time.Minute
)

func newBackoff() backoff {
	return backoff{base: reconnectBase, max: reconnectMax, rand: rand.Int64N}
}

func (b backoff) delay(attempt int) time.Duration {
	ceil := b.max
	if attempt < 32 {
		if c := b.base << attempt; c > 0 && c < b.max {
			ceil = c
		}
	}
	return time.Duration(b.rand(int64(ceil)))
}
