package agent

import (
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/procstat"
)

// onComponentStatus takes {"ready": true} as a component's health report,
// and keeps what it says about its state (degraded, and why) for the
// device's status report.
func (a *Agent) onComponentStatus(component string, payload []byte) {
	var st deviceapi.ComponentHealth
	if _, err := deviceapi.Decode(payload, &st); err == nil {
		a.mu.Lock()
		if a.ready == nil {
			a.ready = map[string]bool{}
		}
		if a.health == nil {
			a.health = map[string]deviceapi.ComponentHealth{}
		}
		a.ready[component] = st.Ready
		if len(st.Reason) > deviceapi.MaxReason {
			st.Reason = st.Reason[:deviceapi.MaxReason]
		}
		a.health[component] = st
		a.mu.Unlock()
	}
}

func (a *Agent) componentHealth() map[string]deviceapi.ComponentHealth {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]deviceapi.ComponentHealth, len(a.health))
	for k, v := range a.health {
		out[k] = v
	}
	return out
}

func (a *Agent) isReady(component string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ready[component]
}

// telemetry is the device's health at a glance.
func (a *Agent) telemetry() *deviceapi.Telemetry {
	bytes, hits, fetched := a.Metrics.Snapshot()
	t := &deviceapi.Telemetry{DownloadedBytes: bytes, CacheHits: hits, ArtifactsFetched: fetched, LinkUp: a.linkUp.Load(), AgentRSSBytes: procstat.RSS(0)}
	t.UnknownFields, t.NewerSchema = a.compat.counts()
	if a.out != nil {
		t.Outbox = a.out.stats()
	}
	var fs syscall.Statfs_t
	if syscall.Statfs(a.cfg.DataDir, &fs) == nil {
		t.DiskFreeBytes = int64(fs.Bavail) * int64(fs.Bsize)
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			t.Load1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	t.MemAvailableBytes = procstat.MemAvailable()
	return t
}

// QueueDepth is how many results wait in the store-and-forward queue.
func (a *Agent) QueueDepth() int {
	if !a.running.Load() {
		return 0
	}
	return a.out.stats().QueueDepth
}
