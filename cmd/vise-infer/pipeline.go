package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/infer/ort"
)

// frame is one image on its way through the pipeline. Its tensor buffer
// belongs to the worker that prepared it and goes back after inference.
type frame struct {
	path     string
	w, h     int // image size in the file
	sha      [32]byte
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
// the session runs the current one. Frames come out in the order their
// paths went in: path k goes to worker k mod n, and results are read back
// the same way round.
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

// run processes paths until the channel closes or ctx ends, handing each
// result to emit with the path it came from and its stage times.
func (p *pipeline) run(ctx context.Context, paths <-chan string, emit func(path string, r *infer.Result, t stages)) error {
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
	wg.Go(func() { dispatch(ctx, paths, ws) })
	for i := 0; ; i++ {
		w := ws[i%len(ws)]
		f, ok := <-w.out
		if !ok {
			return nil
		}
		r := p.infer(f)
		emit(f.path, r, f.t)
		w.free <- f
	}
}

// dispatch hands paths to the workers round robin.
func dispatch(ctx context.Context, paths <-chan string, ws []*worker) {
	defer func() {
		for _, w := range ws {
			close(w.in)
		}
	}()
	for i := 0; ; i++ {
		select {
		case path, ok := <-paths:
			if !ok {
				return
			}
			select {
			case ws[i%len(ws)].in <- path:
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
		Image: infer.ImageRef{Name: filepath.Base(f.path)}, Detections: []infer.Detection{}}
	if f.err != nil {
		r.Error = f.err.Error()
		r.InferredAt = time.Now().UTC()
		return r
	}
	r.Image.Width, r.Image.Height, r.Image.SHA256 = f.w, f.h, hex.EncodeToString(f.sha[:])
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
	in   chan string
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
	w := &worker{dec: dec, in: make(chan string), out: make(chan *frame), free: make(chan *frame, 2)}
	for range 2 {
		w.free <- &frame{buf: make([]float32, 3*c.Width*c.Height)} // the big buffers: allocated once
	}
	return w, nil
}

func (w *worker) run(ctx context.Context, p *pipeline) {
	defer close(w.out)
	for path := range w.in {
		var f *frame
		select {
		case f = <-w.free:
		case <-ctx.Done():
			return
		}
		w.prepare(f, path, p.sess.Contract)
		select {
		case w.out <- f:
		case <-ctx.Done():
			return
		}
	}
}

// prepare decodes path and letterboxes it into f's buffer.
func (w *worker) prepare(f *frame, path string, c *infer.Contract) {
	buf := f.buf
	*f = frame{path: path, buf: buf, captured: time.Now()}
	d, err := w.dec.load(path)
	t1 := time.Now()
	f.t.Decode = t1.Sub(f.captured)
	if f.err = err; err != nil {
		return
	}
	f.w, f.h, f.sha = d.w, d.h, sha256.Sum256(d.file)
	f.lb = infer.NewLetterbox(d.w, d.h, c.Width, c.Height)
	w.fill.Fill(f.lb, d.px, buf)
	f.t.Fill = time.Since(t1)
}
