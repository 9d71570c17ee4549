package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/infer/ort"
	"github.com/vise-edge/vise/source"
)

// frame is one image on its way through the pipeline. Its tensor buffer
// belongs to the worker that prepared it and goes back after inference.
type frame struct {
	src      source.Frame
	w, h     int      // image size in the file
	sha      [32]byte // of the file; none for a camera's raw pixels
	raw      bool
	lb       infer.Letterbox
	buf      []float32
	err      error
	captured time.Time
	t        stages
}

// stages is where one frame's time went.
type stages struct {
	Decode, Fill, Infer, Post time.Duration
}

// pipeOptions are the pipeline's knobs; zero values are the defaults.
type pipeOptions struct {
	Decoders  int  // decode workers; 0 means 1
	MaxPixels int  // 0 means infer.DefaultMaxPixels
	NoScale   bool // decode JPEGs at full size (to measure what scaling changes)
}

// pipeline decodes and letterboxes upcoming images on decode workers while
// the session runs the current one. Frames come out in the order they went
// in: frame k goes to worker k mod n, and results are read back the same
// way round.
type pipeline struct {
	sess  *ort.Session
	post  infer.Post
	model infer.ModelRef
	opts  pipeOptions
	log   *slog.Logger

	mu        sync.Mutex // guards the thresholds, which reload live
	conf, iou float32
}

func newPipeline(sess *ort.Session, post infer.Post, model infer.ModelRef, opts pipeOptions, log *slog.Logger) *pipeline {
	opts.Decoders = max(1, opts.Decoders)
	return &pipeline{sess: sess, post: post, model: model, opts: opts, log: log}
}

// setThresholds changes the confidence and IoU thresholds from the next
// image on.
func (p *pipeline) setThresholds(conf, iou float32) {
	p.mu.Lock()
	p.conf, p.iou = conf, iou
	p.mu.Unlock()
}

// run processes frames until the channel closes or ctx ends, handing each
// result to emit with the frame it came from and its stage times.
func (p *pipeline) run(ctx context.Context, in <-chan source.Frame, emit func(src source.Frame, r *infer.Result, t stages)) error {
	ws := make([]*worker, p.opts.Decoders)
	for i := range ws {
		w, err := p.newWorker()
		if err != nil {
			for _, w := range ws[:i] {
				w.dec.close()
			}
			return err
		}
		ws[i] = w
	}
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		for _, w := range ws {
			w.dec.close()
		}
	}()
	for _, w := range ws {
		wg.Go(func() { w.run(ctx, p) })
	}
	wg.Go(func() { dispatch(ctx, in, ws) })
	for i := 0; ; i++ {
		w := ws[i%len(ws)]
		f, ok := <-w.out
		if !ok {
			return nil
		}
		r := p.infer(f)
		emit(f.src, r, f.t)
		w.free <- f
	}
}

// dispatch hands frames to the workers round robin.
func dispatch(ctx context.Context, in <-chan source.Frame, ws []*worker) {
	defer func() {
		for _, w := range ws {
			close(w.in)
		}
	}()
	for i := 0; ; i++ {
		select {
		case src, ok := <-in:
			if !ok {
				return
			}
			select {
			case ws[i%len(ws)].in <- src:
			case <-ctx.Done():
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (p *pipeline) infer(f *frame) *infer.Result {
	r := &infer.Result{Schema: 1, MsgID: ulid.Make().String(), Model: p.model, CapturedAt: f.captured.UTC(),
		Image: infer.ImageRef{Name: f.src.Name}, PartID: f.src.PartID, Detections: []infer.Detection{}}
	if f.err != nil {
		r.Error = f.err.Error()
		r.InferredAt = time.Now().UTC()
		return r
	}
	r.Image.Width, r.Image.Height = f.w, f.h
	if !f.raw {
		r.Image.SHA256 = hex.EncodeToString(f.sha[:])
	}
	t0 := time.Now()
	copy(p.sess.Input(), f.buf)
	err := p.sess.Run()
	t1 := time.Now()
	if err == nil {
		c := p.sess.Contract
		p.mu.Lock()
		if p.conf > 0 {
			p.post.Confidence, p.post.IoU = p.conf, p.iou
		}
		p.mu.Unlock()
		r.Detections, err = p.post.Decode(p.sess.Output(), c.Classes, c.Anchors, f.lb)
	}
	t2 := time.Now()
	if err != nil {
		r.Error = fmt.Sprintf("inference: %v", err)
	}
	r.InferredAt = t2.UTC()
	f.t.Infer, f.t.Post = t1.Sub(t0), t2.Sub(t1)
	r.LatencyMS = infer.Latency{Pre: ms(f.t.Decode + f.t.Fill), Infer: ms(f.t.Infer), Post: ms(f.t.Post)}
	return r
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// worker decodes and letterboxes frames with its own decoder, filler and
// two tensor buffers: one being filled while the other waits for, or is
// in, inference.
type worker struct {
	dec  *decoder
	fill infer.Filler
	raw  []byte // a raw camera frame's pixels, reused
	in   chan source.Frame
	out  chan *frame
	free chan *frame
}

func (p *pipeline) newWorker() (*worker, error) {
	c := p.sess.Contract
	minW, minH := c.Width, c.Height
	if p.opts.NoScale {
		minW, minH = 1<<30, 1<<30
	}
	dec, err := newDecoder(p.opts.MaxPixels, minW, minH)
	if err != nil {
		return nil, err
	}
	w := &worker{dec: dec, in: make(chan source.Frame), out: make(chan *frame), free: make(chan *frame, 2)}
	for range 2 {
		w.free <- &frame{buf: make([]float32, 3*c.Width*c.Height)} // the big buffers: allocated once
	}
	return w, nil
}

func (w *worker) run(ctx context.Context, p *pipeline) {
	defer close(w.out)
	for src := range w.in {
		var f *frame
		select {
		case f = <-w.free:
		case <-ctx.Done():
			return
		}
		w.prepare(f, src, p.sess.Contract)
		select {
		case w.out <- f:
		case <-ctx.Done():
			return
		}
	}
}

// prepare decodes a frame and letterboxes it into f's buffer. A camera's
// frame was captured when it arrived; a file's, when it is read.
func (w *worker) prepare(f *frame, src source.Frame, c *infer.Contract) {
	buf := f.buf
	*f = frame{src: src, buf: buf, captured: time.Now()}
	t0 := f.captured
	if !src.CapturedAt.IsZero() {
		f.captured = src.CapturedAt
	}
	d, err := w.decode(src)
	t1 := time.Now()
	f.t.Decode = t1.Sub(t0)
	if f.err = err; err != nil {
		return
	}
	f.w, f.h, f.raw = d.w, d.h, d.file == nil
	if !f.raw {
		f.sha = sha256.Sum256(d.file)
	}
	f.lb = infer.NewLetterbox(d.w, d.h, c.Width, c.Height)
	w.fill.Fill(f.lb, d.px, buf)
	f.t.Fill = time.Since(t1)
}

// decode turns a frame into pixels: a camera's raw pixels (Aravis) as
// they are, its JPEG bytes, or a file.
func (w *worker) decode(src source.Frame) (decoded, error) {
	switch {
	case src.Image != nil:
		px := infer.PixelsOf(src.Image, w.raw)
		w.raw = px.Pix
		return decoded{px: px, w: px.Width, h: px.Height}, nil
	case src.Data != nil:
		d, err := w.dec.decode(src.Data)
		if err != nil {
			return d, fmt.Errorf("%w: %s: %w", infer.ErrBadImage, src.Name, err)
		}
		return d, nil
	}
	return w.dec.load(src.Path)
}
