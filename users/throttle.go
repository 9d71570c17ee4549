package users

import (
	"sync"
	"time"
)

// throttle slows password guessing. Each key (a user name, a remote address)
// gets free failed attempts; after those, the next attempt must wait a delay
// that doubles with every further failure, up to max. A key idle for forget
// starts over. Waiting, not locking out, keeps a guesser from locking a real
// user out for long while cutting guesses to about one per max.
type throttle struct {
	free   int
	base   time.Duration
	max    time.Duration
	forget time.Duration
	now    func() time.Time

	mu   sync.Mutex
	keys map[string]*failures
}

type failures struct {
	n    int
	last time.Time
}

func newThrottle(free int, base, max time.Duration, now func() time.Time) *throttle {
	return &throttle{free: free, base: base, max: max, forget: 15 * time.Minute, now: now, keys: map[string]*failures{}}
}

// wait is how long the caller must wait before an attempt for key is
// considered; 0 means now.
func (t *throttle) wait(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.keys[key]
	now := t.now()
	if f == nil || now.Sub(f.last) >= t.forget || f.n < t.free {
		return 0
	}
	delay := t.max
	if shift := f.n - t.free; shift < 20 {
		delay = min(t.base<<shift, t.max)
	}
	return max(0, f.last.Add(delay).Sub(now))
}

// fail records a failed attempt for key.
func (t *throttle) fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	f := t.keys[key]
	if f == nil || now.Sub(f.last) >= t.forget {
		if len(t.keys) >= 1024 {
			t.prune(now)
		}
		f = &failures{}
		t.keys[key] = f
	}
	f.n++
	f.last = now
}

// reset forgets key's failures, after a successful login.
func (t *throttle) reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.keys, key)
}

func (t *throttle) prune(now time.Time) {
	for k, f := range t.keys {
		if now.Sub(f.last) >= t.forget {
			delete(t.keys, k)
		}
	}
}
