package agent

import (
	"encoding/json"
	"sync"

	"github.com/vise-edge/vise/deviceapi"
)

// compat counts component messages with fields this agent does not know
// (it forwards what it understands) or from a newer schema, and logs the
// first of each kind once, so a component newer than its agent shows in
// the device's telemetry instead of in every log line.
type compat struct {
	unknown, newer       int64
	mu                   sync.Mutex
	loggedUnk, loggedNew bool
}

// onResult queues a component's result for the server. Each message gets a
// unique msg_id (kept if the component set one) so the server stores it
// exactly once however often the link makes the agent resend it.
func (a *Agent) onResult(component string, payload []byte) { a.takeResult(component, payload) }

// takeResult is onResult telling whether the result was queued.
func (a *Agent) takeResult(component string, payload []byte) bool {
	var r deviceapi.Result
	if !a.decodeIPC("result", component, payload, deviceapi.MaxResultBytes, &r, func() int { return r.Schema }, deviceapi.ResultSchema) {
		return false
	}
	if r.MsgID == "" {
		r.MsgID = newMsgID()
	}
	r.Device, r.Component = a.id.Device, component
	b, _ := json.Marshal(r)
	return a.queue(deviceapi.ResultTopic(a.id.Device, component), b, entryClass(&r), deviceapi.MaxResultBytes)
}

// onVerdict queues a component's verdict for the server, like a result.
func (a *Agent) onVerdict(component string, payload []byte) {
	var v deviceapi.Verdict
	if !a.decodeIPC("verdict", component, payload, deviceapi.MaxVerdictBytes, &v, func() int { return v.Schema }, deviceapi.VerdictSchema) {
		return
	}
	if v.MsgID == "" {
		v.MsgID = newMsgID()
	}
	v.Device, v.Component = a.id.Device, component
	b, _ := json.Marshal(v)
	a.queue(deviceapi.VerdictTopic(a.id.Device, component), b, classVerdict, deviceapi.MaxVerdictBytes)
}

// queue puts a message in the outbox. The limit is checked again on the
// message as forwarded: one the server would refuse is not worth keeping.
func (a *Agent) queue(topic string, b []byte, class byte, limit int) bool {
	if len(b) > limit {
		a.log.Warn("message dropped: too large once its fields are filled in", "topic", topic, "bytes", len(b), "limit", limit)
		a.Metrics.add(func(m *Metrics) { m.ResultsRejected++ })
		return false
	}
	if err := a.out.put(topic, b, class); err != nil {
		a.log.Error("message lost: cannot queue it", "topic", topic, "err", err)
		return false
	}
	return true
}

// decodeIPC decodes a component's message into v; false if it was refused
// (too large, not a JSON object of the message's type), which is counted.
func (a *Agent) decodeIPC(kind, component string, payload []byte, limit int, v any, schema func() int, known int) bool {
	if len(payload) > limit {
		a.log.Warn(kind+" dropped: too large", "component", component, "bytes", len(payload), "limit", limit)
		a.Metrics.add(func(m *Metrics) { m.ResultsRejected++ })
		return false
	}
	info, err := deviceapi.Decode(payload, v)
	if err != nil {
		a.log.Warn(kind+" dropped: not a JSON "+kind+" object", "component", component, "err", err)
		a.Metrics.add(func(m *Metrics) { m.ResultsRejected++ })
		return false
	}
	info.Newer = schema() > known
	a.compat.note(a, kind, component, info)
	return true
}

func (c *compat) note(a *Agent, kind, component string, info deviceapi.Info) {
	if info.Unknown == "" && !info.Newer {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if info.Unknown != "" {
		c.unknown++
		if !c.loggedUnk {
			c.loggedUnk = true
			a.log.Warn("a component sends fields this agent does not know; they are not forwarded (logged once, counted in telemetry as unknown_fields)",
				"kind", kind, "component", component, "field", info.Unknown)
		}
	}
	if info.Newer {
		c.newer++
		if !c.loggedNew {
			c.loggedNew = true
			a.log.Warn("a component sends a newer schema than this agent knows; what it understands is forwarded (logged once, counted in telemetry as newer_schema)",
				"kind", kind, "component", component)
		}
	}
}

func (c *compat) counts() (unknown, newer int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unknown, c.newer
}
