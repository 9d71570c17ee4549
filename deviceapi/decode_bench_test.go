package deviceapi

import (
	"encoding/json"
	"testing"
)

var benchPayload = []byte(`{"schema":1,"msg_id":"run-1","device":"sim-0001","component":"vise.sim","model":{"name":"metal-tags","version":"1","sha256":"9f2c1d6a4b3e8f7a0c5d2e1b6a9f8c7d3e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c"},"image":{"name":"tag-000000.jpg","width":450,"height":300,"sha256":""},"captured_at":"2026-12-03T10:00:00Z","inferred_at":"2026-12-03T10:00:00Z","latency_ms":{"pre":2.1,"infer":18.4,"post":0.3},"detections":[{"class":"scratch","class_id":0,"confidence":0.91,"box":{"x":81,"y":123,"width":82,"height":97}}]}`)

// BenchmarkDecode is the cost of noticing unknown fields (Decode) against
// plain json.Unmarshal, on a typical result: the price every result pays
// at the server's door for forward compatibility being counted.
func BenchmarkDecode(b *testing.B) {
	for b.Loop() {
		var r Result
		Decode(benchPayload, &r)
	}
}

// BenchmarkUnmarshal is BenchmarkDecode's baseline.
func BenchmarkUnmarshal(b *testing.B) {
	for b.Loop() {
		var r Result
		json.Unmarshal(benchPayload, &r)
	}
}
