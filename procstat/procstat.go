// Package procstat reads memory figures of a process from Linux's /proc,
// for the agent's telemetry, the simulator's report and benchmarks, and
// finds processes by command line for tests. Off
// Linux, or for a process that is gone, every figure is 0.
package procstat

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// RSS is the resident memory of process pid (0: this one), in bytes.
func RSS(pid int) int64 { return Status(pid, "VmRSS") }

// PeakRSS is the high-water resident memory of process pid (0: this one).
func PeakRSS(pid int) int64 { return Status(pid, "VmHWM") }

// MemAvailable is the memory the kernel can give without swapping.
func MemAvailable() int64 { return kB("/proc/meminfo", "MemAvailable") }

// Status reads a "Name:  123 kB" field of /proc/<pid>/status, in bytes.
func Status(pid int, field string) int64 {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	return kB(path, field)
}

func kB(path, field string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// WithCmdline lists the pids whose command line mentions s (tests use it to
// find processes a crash left behind).
func WithCmdline(s string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), s) {
			out = append(out, filepath.Base(filepath.Dir(p)))
		}
	}
	return out
}
