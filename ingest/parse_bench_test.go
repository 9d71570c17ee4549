package ingest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/vise-edge/vise/infer"
)

// BenchmarkParseResult parses the simulator's result, the check every
// result pays at the door.
func BenchmarkParseResult(b *testing.B) {
	r := infer.Synthetic(0, time.Now())
	r.MsgID, r.Device, r.Component = "run-1", "sim-0001", "vise.sim"
	payload, _ := json.Marshal(r)
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := ParseResult("sim-0001", payload); err != nil {
			b.Fatal(err)
		}
	}
}
