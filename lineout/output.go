// Package lineout sends verdicts to the production line: a Modbus TCP coil
// or holding register pulsed on a PLC, an OPC UA node written, an HTTP
// webhook called. Each output has its own worker and a short queue, so an
// output that is down never holds up inference: what it cannot deliver is
// counted and its status says why.
package lineout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vise-edge/vise/verdict"
)

// Sender delivers one verdict to one place.
type Sender interface {
	Send(ctx context.Context, v *verdict.Verdict) error
	Close() error
}

// Which verdicts an output signals.
const (
	OnReject = "reject" // the default: the line removes the part
	OnPass   = "pass"
	OnAll    = "all"
)

// Config is one entry of the component setting "outputs".
type Config struct {
	Type string `json:"type"` // modbus, opcua, webhook or mqtt
	Name string `json:"name,omitempty"`
	On   string `json:"on,omitempty"` // reject (default), pass or all
	// URL is tcp://plc:502 (modbus), opc.tcp://host:4840 (opcua) or the
	// webhook's http(s) URL.
	URL string `json:"url,omitempty"`
	// Modbus: exactly one of Coil and Register, Unit the unit id (default 1),
	// Value the register value written (default 1).
	Unit     *int `json:"unit_id,omitempty"`
	Coil     *int `json:"coil,omitempty"`
	Register *int `json:"register,omitempty"`
	Value    *int `json:"value,omitempty"`
	// Pulse is how long a Modbus coil/register or OPC UA node stays set
	// before it is reset (default 200ms; "0s" sets without resetting).
	Pulse string `json:"pulse,omitempty"`
	// Gap is the least time a Modbus target stays reset between two
	// pulses (default the pulse time), so each verdict is an edge a PLC
	// can count.
	Gap string `json:"gap,omitempty"`
	// Mode is pulse (the default) or count (Modbus holding register only):
	// count adds one to the register per verdict instead of pulsing it.
	Mode string `json:"mode,omitempty"`
	// Node is the OPC UA node id, e.g. ns=2;s=Line3.Reject.
	Node string `json:"node,omitempty"`
	// Timeout bounds one attempt (default 2s); Retries is how many more
	// attempts a webhook gets, with backoff (default 3).
	Timeout string `json:"timeout,omitempty"`
	Retries *int   `json:"retries,omitempty"`
}

// ParseConfigs reads the "outputs" setting, refusing unknown fields.
func ParseConfigs(raw json.RawMessage) ([]Config, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	var cs []Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cs); err != nil {
		return nil, fmt.Errorf("outputs: %w", err)
	}
	for i := range cs {
		c := &cs[i]
		if c.On == "" {
			c.On = OnReject
		}
		if c.On != OnReject && c.On != OnPass && c.On != OnAll {
			return nil, fmt.Errorf("outputs[%d]: on %q: use reject, pass or all", i, c.On)
		}
		if c.Name == "" {
			c.Name = fmt.Sprintf("%s-%d", c.Type, i+1)
		}
		for _, d := range []string{c.Pulse, c.Gap, c.Timeout} {
			if _, err := time.ParseDuration(d); d != "" && err != nil {
				return nil, fmt.Errorf("outputs[%d] (%s): %w", i, c.Name, err)
			}
		}
	}
	return cs, nil
}

func duration(s string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(s); err == nil {
		return d
	}
	return def
}

// Open makes the Sender of a modbus, opcua or webhook output. It does not
// connect: a line device that is down at start is an output that is down,
// not a component that fails to start.
func Open(c Config) (Sender, error) {
	switch c.Type {
	case "modbus":
		return newModbus(c)
	case "opcua":
		return newOPCUA(c)
	case "webhook":
		return newWebhook(c)
	}
	return nil, fmt.Errorf("outputs: type %q: use modbus, opcua, webhook or mqtt", c.Type)
}

// Status is an output's health for the component status.
type Status struct {
	Type        string `json:"type"`
	Up          bool   `json:"up"`
	Delivered   int64  `json:"delivered"`
	Undelivered int64  `json:"undelivered"`
	LastError   string `json:"last_error,omitempty"`
}

// Output runs one Sender in its own goroutine behind a short queue.
type Output struct {
	cfg         Config
	s           Sender
	q           chan *verdict.Verdict
	log         *slog.Logger
	observe     func(v *verdict.Verdict, delivered time.Time)
	delivered   atomic.Int64
	undelivered atomic.Int64
	mu          sync.Mutex
	lastErr     string
	done        chan struct{}
}

// queueLen is how many verdicts may wait for a slow output before new ones
// are counted undelivered rather than held.
const queueLen = 16

// Start runs s. observe, if set, is called with each delivered verdict and
// when its delivery was acknowledged (the latency benchmark uses it).
func Start(ctx context.Context, c Config, s Sender, log *slog.Logger, observe func(*verdict.Verdict, time.Time)) *Output {
	o := &Output{cfg: c, s: s, q: make(chan *verdict.Verdict, queueLen), log: log, observe: observe, done: make(chan struct{})}
	go o.run(ctx)
	return o
}

// Offer queues v if this output signals it, never blocking.
func (o *Output) Offer(v *verdict.Verdict) {
	if (o.cfg.On == OnReject && !v.Reject) || (o.cfg.On == OnPass && v.Reject) {
		return
	}
	select {
	case o.q <- v:
	default:
		o.fail(fmt.Errorf("queue full: the output is slower than the line"))
	}
}

func (o *Output) run(ctx context.Context) {
	defer close(o.done)
	for {
		select {
		case v := <-o.q:
			if err := o.s.Send(ctx, v); err != nil {
				o.fail(err)
				continue
			}
			now := time.Now()
			o.delivered.Add(1)
			o.mu.Lock()
			o.lastErr = ""
			o.mu.Unlock()
			if o.observe != nil {
				o.observe(v, now)
			}
		case <-ctx.Done():
			o.undelivered.Add(int64(len(o.q)))
			return
		}
	}
}

func (o *Output) fail(err error) {
	n := o.undelivered.Add(1)
	o.mu.Lock()
	first := o.lastErr == ""
	o.lastErr = err.Error()
	o.mu.Unlock()
	if first || n%100 == 0 { // a dead PLC must not flood the log
		o.log.Warn("line signal not delivered", "output", o.cfg.Name, "err", err, "undelivered_total", n)
	}
}

// Status is the output's health now: up unless the last attempt failed.
func (o *Output) Status() Status {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Status{Type: o.cfg.Type, Up: o.lastErr == "", Delivered: o.delivered.Load(), Undelivered: o.undelivered.Load(), LastError: o.lastErr}
}

// Close stops the worker (after ctx ends) and the Sender.
func (o *Output) Close() error {
	<-o.done
	return o.s.Close()
}
