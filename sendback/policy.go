package sendback

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/vise-edge/vise/deviceapi"
)

// Reason is why a frame was sent back; it goes with the result so the
// device's queue and the server's labelling queue can tell them apart.
type Reason string

// Reasons, in the order a frame is tried against them: an uncertain frame
// is the most useful to label, a defect next, a sample last.
const (
	ReasonUncertain Reason = "uncertain"
	ReasonDefect    Reason = "defect"
	ReasonSample    Reason = "sample"
)

// Count and Counts are the wire form of the policy's totals, carried in a
// component's status; their one type is in deviceapi.
type (
	Count  = deviceapi.SendBackCount
	Counts = deviceapi.SendBackCounts
)

// Policy decides, frame by frame, what is sent back. It is safe for
// concurrent use.
type Policy struct {
	mu     sync.Mutex
	cfg    Config
	caps   map[Reason]*hourly
	counts Counts
	rand   func() float64
}

// New makes a policy of a checked configuration.
func New(c Config) *Policy {
	p := &Policy{rand: rand.Float64}
	p.set(c)
	return p
}

// Set changes the configuration (a reload) keeping the counts and what was
// sent in the last hour, so a reload does not reset the budget.
func (p *Policy) Set(c Config) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.set(c)
}

func (p *Policy) set(c Config) {
	old := p.caps
	p.cfg, p.caps = c, map[Reason]*hourly{}
	limits := map[Reason]*int{}
	if c.Defects != nil {
		limits[ReasonDefect] = c.Defects.PerHour
	}
	if c.Uncertain != nil {
		limits[ReasonUncertain] = c.Uncertain.PerHour
	}
	if c.Sample != nil {
		limits[ReasonSample] = c.Sample.PerHour
	}
	for r, n := range limits {
		if n == nil {
			continue
		}
		h := newHourly(*n)
		if o := old[r]; o != nil {
			h.carry(o)
		}
		p.caps[r] = h
	}
}

// Decide says whether a frame with these detection confidences is sent
// back and why; "" means it is not.
func (p *Policy) Decide(now time.Time, confidences []float64) Reason {
	p.mu.Lock()
	defer p.mu.Unlock()
	var qualifies []Reason
	if u := p.cfg.Uncertain; u != nil && anyIn(confidences, u.Min, u.Max) {
		qualifies = append(qualifies, ReasonUncertain)
	}
	if len(confidences) > 0 { // an uncertain frame over its cap may go as a defect
		qualifies = append(qualifies, ReasonDefect)
	}
	if len(qualifies) == 0 {
		if s := p.cfg.Sample; s == nil || s.Rate <= 0 || p.rand() >= s.Rate {
			p.counts.NotSampled++
			return ""
		}
		qualifies = append(qualifies, ReasonSample)
	}
	for _, r := range qualifies {
		if p.take(r, now) {
			p.count(r).Kept++
			return r
		}
	}
	p.count(qualifies[0]).OverCap++
	return ""
}

// take spends one of the reason's budget if it has any left.
func (p *Policy) take(r Reason, now time.Time) bool {
	h, capped := p.caps[r]
	return !capped || h.take(now)
}

func (p *Policy) count(r Reason) *Count {
	switch r {
	case ReasonUncertain:
		return &p.counts.Uncertain
	case ReasonDefect:
		return &p.counts.Defect
	}
	return &p.counts.Sample
}

// Counts are the totals so far.
func (p *Policy) Counts() Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts
}

func anyIn(xs []float64, lo, hi float64) bool {
	for _, x := range xs {
		if x >= lo && x <= hi {
			return true
		}
	}
	return false
}

// hourly allows at most n events in any hour: it keeps the times of the
// last n in a ring, and the next may go when the oldest is an hour old.
type hourly struct {
	at   []time.Time
	next int
}

func newHourly(n int) *hourly { return &hourly{at: make([]time.Time, n)} }

func (h *hourly) take(now time.Time) bool {
	if len(h.at) == 0 {
		return false
	}
	if oldest := h.at[h.next]; !oldest.IsZero() && now.Sub(oldest) < time.Hour {
		return false
	}
	h.at[h.next] = now
	h.next = (h.next + 1) % len(h.at)
	return true
}

// carry keeps the newest sends of o that fit, oldest first.
func (h *hourly) carry(o *hourly) {
	n := len(o.at)
	for i := range n {
		if t := o.at[(o.next+i)%n]; !t.IsZero() && len(h.at) > 0 {
			h.at[h.next] = t
			h.next = (h.next + 1) % len(h.at)
		}
	}
}
