package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// StreamOptions configure a live stream. Zero values take the defaults.
type StreamOptions struct {
	URL string
	// FFmpeg is the ffmpeg program (default "ffmpeg" on PATH).
	FFmpeg string
	// Stall is how long without a frame counts as a lost camera (default
	// 5s); Connect is how long the first frame of a connection may take
	// (connecting, probing, the first key frame; default 10s).
	Stall, Connect time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnects, which
	// doubles from MinBackoff after each attempt that produced no frame
	// (defaults 250ms and 5s).
	MinBackoff, MaxBackoff time.Duration
	Log                    *slog.Logger
}

func (o *StreamOptions) defaults() {
	if o.Stall <= 0 {
		o.Stall = 5 * time.Second
	}
	if o.Connect <= 0 {
		o.Connect = max(10*time.Second, o.Stall)
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Source states, as the component status reports them.
const (
	StateConnecting = "connecting"
	StateStreaming  = "streaming"
	StateDegraded   = "degraded"
)

// Status is a source's health for the component status.
type Status struct {
	State      string    `json:"state"`
	Reason     string    `json:"reason,omitempty"`
	Frames     int64     `json:"frames"`
	Reconnects int64     `json:"reconnects"`
	Since      time.Time `json:"since"` // when State last changed
}

// Stream is a live camera read through ffmpeg. It never gives up on a
// camera: a lost one is reconnected with capped backoff while the status
// says degraded and why.
type Stream struct {
	opts   StreamOptions
	ffmpeg string
	dial   Dial
	frames atomic.Int64
	mu     sync.Mutex
	st     Status
}

// NewStream checks the URL and that ffmpeg is installed.
func NewStream(opts StreamOptions) (*Stream, error) {
	opts.defaults()
	if k, err := Classify(opts.URL); err != nil || k != KindStream {
		return nil, fmt.Errorf("source %q is not a stream URL (rtsp:// or http://)", opts.URL)
	}
	if _, err := url.Parse(opts.URL); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	bin, err := findFFmpeg(opts.FFmpeg)
	if err != nil {
		return nil, err
	}
	s := &Stream{opts: opts, ffmpeg: bin}
	return s.init(s.connect), nil
}

// Dial connects to a camera once and hands each frame it captures to emit
// (which fills in Seq, Name and CapturedAt when unset) until the camera is
// lost, returning why, or emit returns false (ctx ended). Dial must give
// up when no frame arrives for the stall timeout.
type Dial func(ctx context.Context, emit func(Frame) bool) error

// NewLive is a live source read by dial (an Aravis camera, say), with the
// same reconnects and status as a stream. opts.URL names it in logs.
func NewLive(opts StreamOptions, dial Dial) *Stream {
	opts.defaults()
	return (&Stream{opts: opts}).init(dial)
}

func (s *Stream) init(dial Dial) *Stream {
	s.dial = dial
	s.st = Status{State: StateConnecting, Since: time.Now()}
	return s
}

// Stall is the stall timeout a Dial must honour.
func (s *Stream) Stall() time.Duration { return s.opts.Stall }

// Status is the stream's health now.
func (s *Stream) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Frames = s.frames.Load()
	return st
}

func (s *Stream) set(state, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.State != state {
		s.st.Since = time.Now()
	}
	s.st.State, s.st.Reason = state, reason
}

// Run sends frames to out until ctx ends, reconnecting whenever the camera
// is lost. Sends block, so put a Newest between Run and a slow consumer.
func (s *Stream) Run(ctx context.Context, out chan<- Frame) {
	wait := s.opts.MinBackoff
	for ctx.Err() == nil {
		n, err := s.once(ctx, out)
		if ctx.Err() != nil {
			return
		}
		if n > 0 {
			wait = s.opts.MinBackoff // it worked for a while: retry quickly
		}
		reason := fmt.Sprintf("camera lost: %v; reconnecting in %s", err, wait.Round(time.Millisecond))
		s.set(StateDegraded, reason)
		s.opts.Log.Warn("camera lost; reconnecting", "source", redact(s.opts.URL), "err", err, "in", wait)
		// Jitter keeps a line of cameras from reconnecting in lockstep.
		sleep(ctx, wait/2+rand.N(wait/2+1))
		wait = min(2*wait, s.opts.MaxBackoff)
		s.mu.Lock()
		s.st.Reconnects++
		s.mu.Unlock()
	}
}

// ErrStalled is a camera that sent nothing for the stall timeout.
var ErrStalled = errors.New("no frame")

// once runs one connection, returning the frames it delivered and why it
// ended.
func (s *Stream) once(ctx context.Context, out chan<- Frame) (int, error) {
	n := 0
	err := s.dial(ctx, func(f Frame) bool {
		n++
		if n == 1 {
			s.set(StateStreaming, "")
			s.opts.Log.Info("camera streaming", "source", redact(s.opts.URL))
		}
		f.Seq = uint64(s.frames.Add(1))
		if f.Name == "" {
			f.Name = fmt.Sprintf("frame-%06d.jpg", f.Seq)
		}
		if f.CapturedAt.IsZero() {
			f.CapturedAt = time.Now()
		}
		select {
		case out <- f:
			return true
		case <-ctx.Done():
			return false
		}
	})
	return n, err
}

// connect runs one ffmpeg until it ends or stalls.
func (s *Stream) connect(ctx context.Context, emit func(Frame) bool) error {
	c, err := startFFmpeg(s.ffmpeg, s.opts.URL)
	if err != nil {
		return err
	}
	var stalled atomic.Bool
	limit := s.opts.Connect
	watchdog := time.AfterFunc(limit, func() { stalled.Store(true); c.kill() })
	stopOnCancel := context.AfterFunc(ctx, c.kill)
	defer stopOnCancel()
	sp := NewSplitter(c.stdout)
	var readErr error
	for {
		data, err := sp.Next()
		if err != nil && !errors.Is(err, ErrCorruptJPEG) {
			readErr = err
			break
		}
		limit = s.opts.Stall
		watchdog.Reset(limit)
		if !emit(Frame{Data: data, CapturedAt: time.Now()}) {
			break
		}
	}
	watchdog.Stop()
	waitErr := c.stop(2 * time.Second)
	switch {
	case stalled.Load():
		return fmt.Errorf("%w for %s", ErrStalled, limit)
	case c.stderr.Last() != "":
		return fmt.Errorf("ffmpeg: %s", c.stderr.Last())
	case waitErr != nil:
		return fmt.Errorf("ffmpeg: %w", waitErr)
	}
	return fmt.Errorf("stream ended: %w", readErr)
}

// redact hides a URL's password before it is logged.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
