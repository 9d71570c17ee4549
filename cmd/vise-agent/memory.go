package main

import (
	"os"
	"runtime/debug"
)

// A device's agent idles with about a MiB of live heap. A soft memory limit
// bounds the heap when a burst (an artifact download, a drained queue)
// would let it double, so the memory stays with the inference component;
// the limit is soft, so a burst past it costs more collections, never a
// crash. GOGC stays at Go's 100: a lower value was measured to cost idle
// memory, not save it (the extra collections at start-up touch the
// collector's own pages: 11.1 vs 10.7 MiB RSS at GOGC=50, docs/decisions/0029).
// GOMEMLIMIT overrides the limit.
const defaultMemoryLimit = 16 << 20

func setMemoryDefaults() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}
