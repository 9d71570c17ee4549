package ingest

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/store"
)

// Messages from a newer device: a field this server does not know, and a
// newer schema. Each is stored (as sent), counted by kind, and logged
// once however many come.
func TestNewerDeviceMessages(t *testing.T) {
	in, s := newIngester(t, store.SQLite, 0)
	var logs bytes.Buffer
	in.log = slog.New(slog.NewTextHandler(&logs, nil))
	msgs := []struct{ topic, payload string }{
		{"vise/devices/cam-1/inference/c", `{"schema":1,"msg_id":"r1","exposure_us":800}`},
		{"vise/devices/cam-1/inference/c", `{"schema":1,"msg_id":"r2","exposure_us":900}`},
		{"vise/devices/cam-1/inference/c", `{"schema":2,"msg_id":"r3","detections":[{"class":"scratch"}]}`},
		{"vise/devices/cam-1/verdicts/c", `{"schema":1,"msg_id":"v1","result_id":"r1","reject":true,"light":"red"}`},
	}
	if _, err := s.CreateDevice(ctx, vise.CreateDeviceRequest{Name: "cam-1"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		fn := in.Result
		if strings.Contains(m.topic, "/verdicts/") {
			fn = in.Verdict
		}
		if err := fn(m.topic, []byte(m.payload)); err != nil {
			t.Fatalf("%s: %v", m.payload, err)
		}
	}
	for _, id := range []string{"r1", "r2", "r3"} {
		r, err := s.GetResult(ctx, "cam-1", id)
		if err != nil {
			t.Fatalf("result %s not stored: %v", id, err)
		}
		if id == "r3" && r.Defects != 1 {
			t.Errorf("newer schema result: %d defects, want the 1 detection understood", r.Defects)
		}
		if id == "r1" && !bytes.Contains(r.Payload, []byte("exposure_us")) {
			t.Errorf("result stored without the field it did not know: %s", r.Payload)
		}
	}
	for _, tc := range []struct {
		kind          string
		unknown, newr float64
	}{{"result", 2, 1}, {"verdict", 1, 0}} {
		if got := value(in.compat.unknown.WithLabelValues(tc.kind)); got != tc.unknown {
			t.Errorf("%s with unknown fields counted %v, want %v", tc.kind, got, tc.unknown)
		}
		if got := value(in.compat.newer.WithLabelValues(tc.kind)); got != tc.newr {
			t.Errorf("%s of a newer schema counted %v, want %v", tc.kind, got, tc.newr)
		}
	}
	if n := strings.Count(logs.String(), "fields this server does not know"); n != 2 {
		t.Errorf("unknown fields logged %d times, want once per kind (2):\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "newer message schema"); n != 1 {
		t.Errorf("newer schema logged %d times, want once", n)
	}
}
