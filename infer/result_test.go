package infer

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// designExample is DESIGN.md's inference result, with its elisions filled.
const designExample = `{"schema": 1, "msg_id": "01JABCDEFGHJKMNPQRSTVWXYZ0", "device": "line-3-cam-1", "component": "vise.inspect",
 "model": {"name": "metal-tags", "version": "7", "sha256": "ab12"},
 "image": {"name": "tag-0042.jpg", "width": 450, "height": 300, "sha256": "cd34"},
 "captured_at": "2026-11-25T05:51:52Z", "inferred_at": "2026-11-25T05:51:53Z",
 "latency_ms": {"pre": 2.1, "infer": 18.4, "post": 0.3},
 "detections": [{"class": "scratch", "class_id": 0, "confidence": 0.91,
                 "box": {"x": 81, "y": 123, "width": 82, "height": 97}}]}`

// Result reads and writes exactly the fields of schema 1: nothing unknown,
// nothing lost, nothing added (the optional image and error are omitted
// when empty).
func TestResultMatchesDesign(t *testing.T) {
	dec := json.NewDecoder(bytes.NewReader([]byte(designExample)))
	dec.DisallowUnknownFields()
	var r Result
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("DESIGN.md's example does not fit Result: %v", err)
	}
	if r.Schema != Schema {
		t.Errorf("schema %d, want %d", r.Schema, Schema)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	json.Unmarshal([]byte(designExample), &want)
	json.Unmarshal(out, &got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip through Result differs (-design +got):\n%s", diff)
	}
}
