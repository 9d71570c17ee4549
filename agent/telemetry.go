package agent

import (
	"encoding/json"
	"github.com/vise-edge/vise"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// maxResultBytes bounds one result message from a component (an attached
// camera image included).
const maxResultBytes = 4 << 20

// onResult queues a component's result for the server. Each message gets a
// unique msg_id (kept if the component set one) so the server stores it
// exactly once however often the link makes the agent resend it.
func (a *Agent) onResult(component string, payload []byte) {
	if len(payload) > maxResultBytes {
		a.log.Warn("result dropped: too large", "component", component, "bytes", len(payload), "limit", maxResultBytes)
		a.Metrics.add(func(m *Metrics) { m.ResultsRejected++ })
		return
	}
	var msg map[string]any
	if err := json.Unmarshal(payload, &msg); err != nil || msg == nil {
		a.log.Warn("result dropped: not a JSON object", "component", component)
		a.Metrics.add(func(m *Metrics) { m.ResultsRejected++ })
		return
	}
	if id, _ := msg["msg_id"].(string); id == "" {
		msg["msg_id"] = newMsgID()
	}
	msg["device"], msg["component"] = a.id.Device, component
	b, _ := json.Marshal(msg)
	if err := a.out.put(deviceTopic(a.id.Device)+"/inference/"+component, b); err != nil {
		a.log.Error("result lost: cannot queue it", "component", component, "err", err)
	}
}

// onComponentStatus takes {"ready": true} as a component's health report,
// and keeps what it says about its state (degraded, and why) for the
// device's status report.
func (a *Agent) onComponentStatus(component string, payload []byte) {
	var st vise.ComponentHealth
	if json.Unmarshal(payload, &st) == nil {
		a.mu.Lock()
		if a.ready == nil {
			a.ready = map[string]bool{}
		}
		if a.health == nil {
			a.health = map[string]vise.ComponentHealth{}
		}
		a.ready[component] = st.Ready
		if len(st.Reason) > maxReason {
			st.Reason = st.Reason[:maxReason]
		}
		a.health[component] = st
		a.mu.Unlock()
	}
}

// maxReason bounds a component's reason in the device status.
const maxReason = 512

func (a *Agent) componentHealth() map[string]vise.ComponentHealth {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]vise.ComponentHealth, len(a.health))
	for k, v := range a.health {
		out[k] = v
	}
	return out
}

// onVerdict queues a component's verdict for the server, like a result.
func (a *Agent) onVerdict(component string, payload []byte) {
	var msg map[string]any
	if len(payload) > maxVerdictBytes || json.Unmarshal(payload, &msg) != nil || msg == nil {
		a.log.Warn("verdict dropped: not a JSON object of at most 64 KiB", "component", component, "bytes", len(payload))
		return
	}
	if id, _ := msg["msg_id"].(string); id == "" {
		msg["msg_id"] = newMsgID()
	}
	msg["device"], msg["component"] = a.id.Device, component
	b, _ := json.Marshal(msg)
	if err := a.out.put(deviceTopic(a.id.Device)+"/verdicts/"+component, b); err != nil {
		a.log.Error("verdict lost: cannot queue it", "component", component, "err", err)
	}
}

// maxVerdictBytes bounds one verdict message.
const maxVerdictBytes = 64 << 10

func (a *Agent) isReady(component string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ready[component]
}

// telemetry is the device's health at a glance.
func (a *Agent) telemetry() map[string]any {
	bytes, hits, fetched := a.Metrics.Snapshot()
	t := map[string]any{"downloaded_bytes": bytes, "cache_hits": hits, "artifacts_fetched": fetched, "link_up": a.linkUp.Load()}
	if a.out != nil {
		n, b, _ := a.out.depth()
		t["queue_depth"], t["queue_bytes"], t["queue_dropped"] = n, b, a.out.dropped.Load()
	}
	var fs syscall.Statfs_t
	if syscall.Statfs(a.cfg.DataDir, &fs) == nil {
		t["disk_free_bytes"] = int64(fs.Bavail) * int64(fs.Bsize)
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			t["load1"], _ = strconv.ParseFloat(f[0], 64)
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				t["mem_available_bytes"] = kb << 10
			}
		}
	}
	t["agent_rss_bytes"] = rss()
	return t
}

func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// QueueDepth is how many results wait in the store-and-forward queue.
func (a *Agent) QueueDepth() int {
	if !a.running.Load() {
		return 0
	}
	n, _, _ := a.out.depth()
	return n
}
