package agent

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vise-edge/vise/deviceapi"
)

// A component newer than its agent: a result with a field the agent does
// not know, and one of a newer schema. Both are forwarded with what the
// agent understands (msg_id, device and component filled in), counted in
// the telemetry, and logged once each.
func TestIntakeForwardCompatible(t *testing.T) {
	var logs bytes.Buffer
	a := &Agent{log: slog.New(slog.NewTextHandler(&logs, nil)), id: &identity{Device: "cam-1"}}
	a.out = testOutbox(t, filepath.Join(t.TempDir(), "outbox.log"), outboxOptions{})
	defer a.out.Close()
	for range 3 {
		a.onResult("vise.inspect", []byte(`{"schema":1,"image":{"name":"a.jpg"},"exposure_us":800}`))
	}
	a.onResult("vise.inspect", []byte(`{"schema":2,"msg_id":"m-2","reason":"defect"}`))
	a.onVerdict("vise.inspect", []byte(`{"schema":1,"msg_id":"v-1","reject":true,"light":"red"}`))
	a.onResult("vise.inspect", []byte(`{"schema":1,"msg_id":7}`)) // refused: wrong type

	tel := a.telemetry()
	if tel.UnknownFields != 4 || tel.NewerSchema != 1 || tel.QueueDepth != 5 {
		t.Errorf("telemetry %+v, want 4 unknown fields, 1 newer schema, 5 queued", tel)
	}
	if a.Metrics.ResultsRejected != 1 {
		t.Errorf("rejected %d, want 1", a.Metrics.ResultsRejected)
	}
	if n := strings.Count(logs.String(), "does not know"); n != 1 {
		t.Errorf("unknown fields logged %d times, want once:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "newer schema"); n != 1 {
		t.Errorf("newer schema logged %d times, want once", n)
	}
	msgs := a.out.peek(10)
	var r deviceapi.Result
	if err := json.Unmarshal(msgs[0].payload, &r); err != nil {
		t.Fatal(err)
	}
	if r.MsgID == "" || r.Device != "cam-1" || r.Component != "vise.inspect" || r.Image.Name != "a.jpg" || bytes.Contains(msgs[0].payload, []byte("exposure_us")) {
		t.Errorf("forwarded %s", msgs[0].payload)
	}
	if msgs[0].topic != deviceapi.ResultTopic("cam-1", "vise.inspect") || msgs[4].topic != deviceapi.VerdictTopic("cam-1", "vise.inspect") {
		t.Errorf("topics %q, %q", msgs[0].topic, msgs[4].topic)
	}
	json.Unmarshal(msgs[3].payload, &r)
	if r.Schema != 2 || r.MsgID != "m-2" || r.Reason != deviceapi.ReasonDefect {
		t.Errorf("newer schema forwarded as %s", msgs[3].payload)
	}
}

func TestConfigRefusesNegativeQueueCaps(t *testing.T) {
	for _, cfg := range []Config{{DataDir: t.TempDir(), Name: "d", QueueMaxBytes: -1}, {DataDir: t.TempDir(), Name: "d", QueueMaxAge: -1}} {
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "positive") {
			t.Errorf("New(%+v) = %v, want a refusal", cfg, err)
		}
	}
}

// A result just under the limit as the component sent it, over it once
// the agent has filled in its fields, is refused at the device (the
// server would refuse it anyway).
func TestIntakeLimitAfterFilling(t *testing.T) {
	a := &Agent{log: slog.New(slog.DiscardHandler), id: &identity{Device: "cam-1"}}
	a.out = testOutbox(t, filepath.Join(t.TempDir(), "outbox.log"), outboxOptions{})
	defer a.out.Close()
	head, tail := `{"schema":1,"msg_id":"m","error":"`, `"}`
	payload := head + strings.Repeat("x", deviceapi.MaxResultBytes-len(head)-len(tail)) + tail
	a.onResult("vise.inspect", []byte(payload))
	if a.Metrics.ResultsRejected != 1 || a.out.stats().QueueDepth != 0 {
		t.Errorf("rejected %d, queued %d; want the oversized result refused", a.Metrics.ResultsRejected, a.out.stats().QueueDepth)
	}
}
