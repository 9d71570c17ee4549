package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/vise-edge/vise/infer/ort"
)

// BenchProfile is the `profile` section of bench's report (with
// --profile): where each model's inference time goes, by the op types
// ONNX Runtime runs after its graph optimizations.
type BenchProfile struct {
	Frames  int          `json:"frames"`            // profiled runs per model
	Model   []ort.OpTime `json:"model"`             // --model's
	Compare []ort.OpTime `json:"compare,omitempty"` // --compare's
}

// benchProfile runs each model again, frames times, with ONNX Runtime's
// profiler on (after the timed runs, which it would slow down).
func benchProfile(c common, compare string, tensors [][]float32, frames int) (*BenchProfile, error) {
	opts := ort.Options{Threads: c.threads, Size: c.size, NoSpin: !c.spin}
	p := &BenchProfile{Frames: frames}
	var err error
	if p.Model, err = ort.Profile(c.model, opts, tensors, frames); err != nil {
		return nil, fmt.Errorf("--profile %s: %w", filepath.Base(c.model), err)
	}
	if compare != "" {
		if p.Compare, err = ort.Profile(compare, opts, tensors, frames); err != nil {
			return nil, fmt.Errorf("--profile %s: %w", filepath.Base(compare), err)
		}
	}
	return p, nil
}

func printProfile(w io.Writer, model, compare string, p *BenchProfile) {
	for _, m := range []struct {
		name string
		ops  []ort.OpTime
	}{{model, p.Model}, {compare, p.Compare}} {
		if m.ops == nil {
			continue
		}
		var total float64
		for _, o := range m.ops {
			total += o.MS
		}
		fmt.Fprintf(w, "profile %s: %.2f ms a frame in kernels (%d frames)\n", m.name, total, p.Frames)
		for _, o := range m.ops {
			fmt.Fprintf(w, "  %-22s %7.3f ms %5.1f %%  %3d nodes\n", o.Op, o.MS, 100*o.Share, o.Nodes)
		}
	}
}
