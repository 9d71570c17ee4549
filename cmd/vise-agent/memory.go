package main

import (
	"os"
	"runtime/debug"
)

// A device's agent idles with a few MiB of live heap; the Go defaults
// (GOGC=100, no memory limit) let the heap double before a collection, and
// that slack is resident memory the inference component could use. These
// defaults keep the heap near its live size; each is overridden by its usual
// environment variable (GOGC, GOMEMLIMIT). The limit is soft: a burst (an
// artifact download, a drained queue) may exceed it at the cost of more
// collections, never a crash. docs/decisions/0018 has the measurements.
const (
	defaultGOGC        = 50
	defaultMemoryLimit = 16 << 20
)

func setMemoryDefaults() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGOGC)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}
