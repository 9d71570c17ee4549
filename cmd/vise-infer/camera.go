package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"path/filepath"
	"strings"
	"time"

	"github.com/vise-edge/vise/source"
	"github.com/vise-edge/vise/source/aravis"
)

// This file runs the runner's sources: folders as before, and live
// cameras through the source package.

// fileFrame is a frame of a folder source; the pipeline reads the file.
func fileFrame(path string) source.Frame {
	return source.Frame{Path: path, Name: filepath.Base(path)}
}

// runSource runs the current source into out until ctx ends.
func (r *runner) runSource(ctx context.Context, st settings, out chan<- source.Frame) {
	switch kind, _ := source.Classify(st.Source); kind {
	case source.KindStream, source.KindAravis:
		r.runStream(ctx, st, out)
		return
	}
	paths := make(chan string)
	go func() {
		defer close(paths)
		if st.Replay {
			replaySource(ctx, st.Source, st.Interval, paths, r.log)
		} else {
			watchSource(ctx, st.Source, paths, r.log)
		}
	}()
	for p := range paths {
		if st.Trigger == triggerSoftware && st.Replay {
			// A replayed folder is a simulated camera: a trigger takes the
			// next image.
			var t source.Trigger
			select {
			case t = <-r.triggers:
			case <-ctx.Done():
				continue
			}
			f := fileFrame(p)
			f.PartID = t.PartID
			send(ctx, out, f)
			continue
		}
		send(ctx, out, fileFrame(p))
	}
}

func send(ctx context.Context, out chan<- source.Frame, f source.Frame) {
	select {
	case out <- f:
	case <-ctx.Done():
	}
}

// runStream reads a live camera. Without a trigger the newest frame wins
// (dropped frames are counted); with one, each trigger takes one frame.
// With the camera's own trigger every frame is a part: none is dropped.
func (r *runner) runStream(ctx context.Context, st settings, out chan<- source.Frame) {
	var fire chan struct{}
	if r.softwareFired(st) {
		fire = make(chan struct{}, cap(r.triggers))
	}
	s, err := r.openLive(st, fire)
	if err != nil { // checked at start; a reload can still name a bad one
		r.log.Error("camera source unusable; waiting for a configuration change", "err", err)
		r.setSource(func() source.Status { return source.Status{State: source.StateDegraded, Reason: err.Error()} })
		<-ctx.Done()
		return
	}
	r.setSource(s.Status)
	raw := make(chan source.Frame)
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, raw) }()
	switch {
	case st.Trigger == triggerSoftware:
		source.Triggered(ctx, raw, r.triggers, out)
	case fire != nil:
		// Each trigger message fires the camera (TriggerSoftware) and
		// names the part of the frame that comes back.
		named := make(chan source.Trigger, cap(r.triggers))
		go forwardTriggers(ctx, r.triggers, named, fire)
		source.Triggered(ctx, raw, named, out)
	case st.Trigger == triggerCamera:
		passAll(ctx, raw, out)
	default:
		source.Newest(ctx, raw, out, &r.counts.dropped)
	}
	<-done
}

// softwareFired is the camera's own trigger with TriggerSource Software:
// vise-infer fires it for each trigger message.
func (r *runner) softwareFired(st settings) bool {
	return st.Trigger == triggerCamera && strings.EqualFold(r.camera.Trigger, "Software")
}

// forwardTriggers hands each trigger to the frame matcher before firing
// the camera, so the trigger is waiting when its frame arrives.
func forwardTriggers(ctx context.Context, in <-chan source.Trigger, named chan<- source.Trigger, fire chan<- struct{}) {
	for {
		select {
		case t := <-in:
			select {
			case named <- t:
			case <-ctx.Done():
				return
			}
			select {
			case fire <- struct{}{}:
			case <-ctx.Done():
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// passAll passes every frame on, however long the model takes: frames of
// a triggered camera are parts (the camera's buffers hold those waiting).
func passAll(ctx context.Context, in <-chan source.Frame, out chan<- source.Frame) {
	for {
		select {
		case f := <-in:
			send(ctx, out, f)
		case <-ctx.Done():
			return
		}
	}
}

// Trigger modes.
const (
	triggerNone     = ""
	triggerSoftware = "software"
	triggerCamera   = "camera" // the camera's own trigger input (Aravis)
)

// openLive makes the live source st names: a stream through ffmpeg, or an
// Aravis camera with the configuration's camera settings.
func (r *runner) openLive(st settings, fire <-chan struct{}) (*source.Stream, error) {
	opts := source.StreamOptions{URL: st.Source, FFmpeg: st.FFmpeg, Stall: st.Stall, MaxBackoff: st.ReconnectMax, Log: r.log}
	if kind, _ := source.Classify(st.Source); kind == source.KindAravis {
		set := r.camera
		if st.Trigger == triggerCamera && set.Trigger == "" {
			set.Trigger = "Line1"
		}
		set.Fire = fire
		liftMemoryLimit() // raw pixels: a 5 MP RGB frame is 20 MB
		id := strings.TrimPrefix(st.Source, "aravis://")
		return source.NewLive(opts, aravis.Dial(id, set, cmp.Or(st.Stall, 5*time.Second))), nil
	}
	return source.NewStream(opts)
}

// checkAll is check and checkSource, for a reloaded configuration.
func (s *settings) checkAll() error {
	if err := s.check(); err != nil {
		return err
	}
	return s.checkSource()
}

// checkSource refuses a source vise-infer cannot read before anything
// starts: an unknown URL scheme, ffmpeg missing for a stream, a trigger
// on a watched folder.
func (s *settings) checkSource() error {
	kind, err := source.Classify(s.Source)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	switch s.Trigger {
	case triggerNone:
	case triggerCamera:
		if kind != source.KindAravis {
			return fmt.Errorf("%w: trigger camera needs an aravis:// camera (its TriggerSource input)", errUsage)
		}
	case triggerSoftware:
		if kind == source.KindFolder && !s.Replay {
			return fmt.Errorf("%w: trigger software needs a camera (rtsp://, http://) or --replay folder: a watched folder has one image per file already", errUsage)
		}
	default:
		return fmt.Errorf("%w: trigger %q: use software or camera (or leave it unset for free-running)", errUsage, s.Trigger)
	}
	if kind == source.KindStream {
		if _, err := source.NewStream(source.StreamOptions{URL: s.Source, FFmpeg: s.FFmpeg}); err != nil {
			return err
		}
	}
	if s.Stall < 0 || s.ReconnectMax < 0 {
		return fmt.Errorf("%w: stall timeout and reconnect backoff must not be negative", errUsage)
	}
	return nil
}

// frameLimit ends the run after n results (0: never), for scripts and
// tests.
type frameLimit struct {
	n    int64
	stop context.CancelFunc
}

func (l frameLimit) reached(done int64) bool { return l.n > 0 && done >= l.n }

// encodeJPEG is a camera's pixels as the JPEG uploaded with a result.
func encodeJPEG(img image.Image) []byte {
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	return b.Bytes()
}
