package main

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/vise-edge/vise/infer/ort"
)

// BenchCompare is the `compare` section of bench's report: both models'
// bare speed measured in the same run, in alternating rounds, so load from
// elsewhere on the machine falls on both alike.
type BenchCompare struct {
	Model        string  `json:"model"`    // the --compare model
	BareFPS      float64 `json:"bare_fps"` // the --compare model's
	BareMS       float64 `json:"bare_ms_per_image"`
	ModelBareFPS float64 `json:"model_bare_fps"` // the --model model's, in the same rounds
	Speedup      float64 `json:"speedup"`        // model_bare_fps / bare_fps: how many times faster --model is
	Frames       int     `json:"frames"`         // per model
}

// compareRound is how many frames one model runs before the other takes
// over.
const compareRound = 10

// benchCompare opens the --compare model beside sess and times both on the
// same ready tensors.
func benchCompare(c common, path string, sess *ort.Session, tensors [][]float32, frames int) (*BenchCompare, error) {
	other := c
	other.model = path
	osess, _, err := other.open()
	if err != nil {
		return nil, fmt.Errorf("--compare: %w", err)
	}
	defer osess.Close()
	a, b := sess.Contract, osess.Contract
	if a.Width != b.Width || a.Height != b.Height {
		return nil, fmt.Errorf("--compare: %s takes %dx%d images and %s %dx%d; compare models of one input size",
			filepath.Base(c.model), a.Width, a.Height, filepath.Base(path), b.Width, b.Height)
	}
	var ta, tb time.Duration
	n := 0
	for n < frames {
		k := min(compareRound, frames-n)
		da, err := timeBare(sess, tensors, n, k)
		if err != nil {
			return nil, err
		}
		db, err := timeBare(osess, tensors, n, k)
		if err != nil {
			return nil, err
		}
		ta, tb, n = ta+da, tb+db, n+k
	}
	rep := &BenchCompare{Model: filepath.Base(path), Frames: frames,
		BareFPS: float64(frames) / tb.Seconds(), BareMS: ms(tb) / float64(frames), ModelBareFPS: float64(frames) / ta.Seconds()}
	rep.Speedup = rep.ModelBareFPS / rep.BareFPS
	return rep, nil
}

// timeBare runs k frames from tensors[from...] (after one untimed warm-up
// run) and returns the time they took.
func timeBare(s *ort.Session, tensors [][]float32, from, k int) (time.Duration, error) {
	copy(s.Input(), tensors[from%len(tensors)])
	if err := s.Run(); err != nil {
		return 0, err
	}
	start := time.Now()
	for i := from; i < from+k; i++ {
		copy(s.Input(), tensors[i%len(tensors)])
		if err := s.Run(); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func printCompare(w io.Writer, model string, c *BenchCompare) {
	fmt.Fprintf(w, "compare:      %s %.1f images/s, %s %.1f images/s, speed-up %.2fx (bare, alternating rounds of %d)\n",
		model, c.ModelBareFPS, c.Model, c.BareFPS, c.Speedup, compareRound)
}
