package main

import (
	"math"
	"os"
	"runtime/debug"
)

// inferMemoryLimit is the Go heap's soft limit for run and bench unless
// GOMEMLIMIT is set. Go's own memory is a small part of vise-infer's (ONNX
// Runtime and the model are most of it), but with the default GOGC the
// heap goal doubles the ~13 MB a 2448x2048 JPEG keeps live to 24 MB:
// measured on this machine, 300 frames, peak RSS 101-103 MB without the
// limit and 90-93 MB with it, frames/s unchanged (README, "Speed"). A
// lower limit than the live heap would make the collector run constantly,
// so raw camera frames (Aravis, up to 4 bytes a pixel) lift it.
const inferMemoryLimit = 24 << 20

// limitMemory sets the soft limit, leaving a GOMEMLIMIT the user set.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(inferMemoryLimit)
	}
}

// liftMemoryLimit undoes limitMemory for sources whose frames alone may
// exceed it.
func liftMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(math.MaxInt64)
	}
}
