package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/infer/ort"
	"github.com/vise-edge/vise/source"
)

// frame is one image on its way through the pipeline.
type frame struct {
	src      source.Frame
	img      *infer.Image
	lb       infer.Letterbox
	buf      []float32
	err      error
	captured time.Time
	pre      time.Duration
}

// pipeline overlaps decoding and letterboxing of the next image with
// inference of the current one: a preprocessing stage fills one of two
// buffers while the session runs on the other.
type pipeline struct {
	sess      *ort.Session
	post      infer.Post
	model     infer.ModelRef
	maxPixels int
	log       *slog.Logger
	free      chan []float32

	mu        sync.Mutex // guards the thresholds, which reload live
	conf, iou float32
}

// setThresholds changes the confidence and IoU thresholds from the next
// image on.
func (p *pipeline) setThresholds(conf, iou float32) {
	p.mu.Lock()
	p.conf, p.iou = conf, iou
	p.mu.Unlock()
}

func newPipeline(sess *ort.Session, post infer.Post, model infer.ModelRef, log *slog.Logger) *pipeline {
	p := &pipeline{sess: sess, post: post, model: model, log: log, free: make(chan []float32, 2)}
	n := 3 * sess.Contract.Width * sess.Contract.Height
	for range 2 {
		p.free <- make([]float32, n) // the big buffers: allocated once
	}
	return p
}

// run processes frames until the channel closes or ctx ends, handing each
// result to emit (with the frame it came from).
func (p *pipeline) run(ctx context.Context, in <-chan source.Frame, emit func(src source.Frame, r *infer.Result)) {
	frames := make(chan *frame, 1)
	go func() {
		defer close(frames)
		for src := range in {
			var buf []float32
			select {
			case buf = <-p.free:
			case <-ctx.Done():
				return
			}
			f := p.prepare(src, buf)
			select {
			case frames <- f:
			case <-ctx.Done():
				return
			}
		}
	}()
	for f := range frames {
		emit(f.src, p.infer(f))
	}
}

func (p *pipeline) prepare(src source.Frame, buf []float32) *frame {
	start := time.Now()
	f := &frame{src: src, buf: buf, captured: start}
	if src.Image != nil { // a camera's pixels (Aravis): nothing to decode
		f.captured = src.CapturedAt
		f.img = &infer.Image{Img: src.Image}
	} else if src.Data != nil { // a camera frame: captured when it arrived
		f.captured = src.CapturedAt
		f.img, f.err = infer.DecodeImage(src.Data, cmp.Or(p.maxPixels, infer.DefaultMaxPixels))
		if f.err != nil {
			f.err = fmt.Errorf("%w: %s: %v", infer.ErrBadImage, src.Name, f.err)
		}
	} else {
		f.img, f.err = infer.LoadImage(src.Path, p.maxPixels)
	}
	if f.err == nil {
		b := f.img.Img.Bounds()
		f.lb = infer.NewLetterbox(b.Dx(), b.Dy(), p.sess.Contract.Width, p.sess.Contract.Height)
		f.lb.Fill(f.img.Img, buf)
	}
	f.pre = time.Since(start)
	return f
}

func (p *pipeline) infer(f *frame) *infer.Result {
	defer func() { p.free <- f.buf }()
	r := &infer.Result{Schema: 1, MsgID: ulid.Make().String(), Model: p.model, CapturedAt: f.captured.UTC(),
		Image: infer.ImageRef{Name: f.src.Name}, PartID: f.src.PartID, Detections: []infer.Detection{}}
	if f.err != nil {
		r.Error = f.err.Error()
		r.InferredAt = time.Now().UTC()
		return r
	}
	b := f.img.Img.Bounds()
	r.Image.Width, r.Image.Height, r.Image.SHA256 = b.Dx(), b.Dy(), f.img.SHA256
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
	r.LatencyMS = infer.Latency{Pre: ms(f.pre), Infer: ms(t1.Sub(t0)), Post: ms(t2.Sub(t1))}
	return r
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
