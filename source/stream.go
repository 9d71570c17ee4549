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
	// Stall is how long without a frame counts as a lost camera, the first
	// frame of a connection included (default 5s).
	Stall time.Duration
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
	return &Stream{opts: opts, ffmpeg: bin, st: Status{State: StateConnecting, Since: time.Now()}}, nil
}

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
		n, err := s.connect(ctx, out)
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

// errStalled is a camera that sent nothing for the stall timeout.
var errStalled = errors.New("no frame")

// connect runs one ffmpeg until it ends or stalls, returning the frames it
// delivered and why it ended.
func (s *Stream) connect(ctx context.Context, out chan<- Frame) (int, error) {
	c, err := startFFmpeg(s.ffmpeg, s.opts.URL)
	if err != nil {
		return 0, err
	}
	var stalled atomic.Bool
	watchdog := time.AfterFunc(s.opts.Stall, func() { stalled.Store(true); c.kill() })
	stopOnCancel := context.AfterFunc(ctx, c.kill)
	defer stopOnCancel()
	n := 0
	sp := NewSplitter(c.stdout)
	var readErr error
	for {
		data, err := sp.Next()
		if err != nil && !errors.Is(err, ErrCorruptJPEG) {
			readErr = err
			break
		}
		watchdog.Reset(s.opts.Stall)
		n++
		if n == 1 {
			s.set(StateStreaming, "")
			s.opts.Log.Info("camera streaming", "source", redact(s.opts.URL))
		}
		seq := uint64(s.frames.Add(1))
		f := Frame{Data: data, Seq: seq, Name: fmt.Sprintf("frame-%06d.jpg", seq), CapturedAt: time.Now()}
		select {
		case out <- f:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	watchdog.Stop()
	waitErr := c.stop(2 * time.Second)
	switch {
	case stalled.Load():
		return n, fmt.Errorf("%w for %s", errStalled, s.opts.Stall)
	case c.stderr.Last() != "":
		return n, fmt.Errorf("ffmpeg: %s", c.stderr.Last())
	case waitErr != nil:
		return n, fmt.Errorf("ffmpeg: %w", waitErr)
	}
	return n, fmt.Errorf("stream ended: %w", readErr)
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
