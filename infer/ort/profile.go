package ort

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// OpTime is the time one op type's kernels took in a profiled run, per
// frame. The op types are the ones ONNX Runtime runs after its graph
// optimizations (QLinearConv, QuickGelu, ...), not the model file's.
type OpTime struct {
	Op string `json:"op"`
	// MS is milliseconds a frame in this op type's kernels: the sum of the
	// nodes' durations, so core time with one intra-op thread and wall
	// time (less than core time) with more.
	MS    float64 `json:"ms_per_frame"`
	Share float64 `json:"share"` // of all kernel time
	Nodes int     `json:"nodes"` // nodes of this op type a frame
}

// Profile runs the model frames times on inputs (in turn) with ONNX
// Runtime's profiler on and returns the kernel time by op type, the most
// first. The profiler costs time itself, so a profiled session is never
// the one that is timed.
func Profile(modelPath string, opts Options, inputs [][]float32, frames int) ([]OpTime, error) {
	if len(inputs) == 0 || frames <= 0 {
		return nil, fmt.Errorf("profile: no frames to run")
	}
	dir, err := os.MkdirTemp("", "vise-ort-profile-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	opts.profile = filepath.Join(dir, "ort")
	s, err := Open(modelPath, opts)
	if err != nil {
		return nil, err
	}
	for i := range frames {
		copy(s.Input(), inputs[i%len(inputs)])
		if err := s.Run(); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.Close() // ONNX Runtime writes the profile when the session ends
	files, err := filepath.Glob(opts.profile + "*.json")
	if err != nil {
		return nil, fmt.Errorf("profile files in %s: %w", dir, err)
	}
	if len(files) != 1 {
		return nil, fmt.Errorf("profile: ONNX Runtime wrote %d profile files in %s, want 1", len(files), dir)
	}
	return readProfile(files[0], frames)
}

// profileEvent is the part of an event in ONNX Runtime's profile (Chrome
// trace format) that says which kernel ran how long.
type profileEvent struct {
	Cat  string `json:"cat"`
	Name string `json:"name"`
	Dur  int64  `json:"dur"` // microseconds
	Args struct {
		Op string `json:"op_name"`
	} `json:"args"`
}

// readProfile sums the kernel events of a profile by op type, reading one
// event at a time (a profile holds one event per node and run).
func readProfile(path string, frames int) ([]OpTime, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, fmt.Errorf("profile %s: not a JSON array of trace events: %w", path, err)
	}
	dur, count := map[string]int64{}, map[string]int{}
	var total int64
	for dec.More() {
		var e profileEvent
		if err := dec.Decode(&e); err != nil {
			return nil, fmt.Errorf("profile %s: %w", path, err)
		}
		if e.Cat != "Node" || !strings.HasSuffix(e.Name, "_kernel_time") {
			continue // session events, and the fence events around each kernel
		}
		dur[e.Args.Op] += e.Dur
		count[e.Args.Op]++
		total += e.Dur
	}
	if total == 0 {
		return nil, fmt.Errorf("profile %s has no kernel events", path)
	}
	ops := make([]OpTime, 0, len(dur))
	for op, d := range dur {
		ops = append(ops, OpTime{Op: op, MS: float64(d) / 1000 / float64(frames), Share: float64(d) / float64(total), Nodes: count[op] / frames})
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].MS > ops[j].MS || (ops[i].MS == ops[j].MS && ops[i].Op < ops[j].Op) })
	return ops, nil
}
