package ingest

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

// FuzzParseResult: whatever a device sends, parsing neither panics nor
// lets through a message that breaks a rule, and what passes is stored as
// valid, compact JSON of a size bounded by what came in.
func FuzzParseResult(f *testing.F) {
	for _, s := range []string{`{"msg_id":"m-1","detections":[{"class":"scratch","confidence":0.9,"box":{"x":1,"y":2,"width":3,"height":4}}]}`,
		`{"msg_id":"m","image_data":"aGVsbG8=","image":{"name":"a.jpg"}}`, `{"msg_id":"m","device":"cam-1"}`, `[[[[]]]]`, `{"msg_id":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		p, err := ParseResult("cam-1", payload)
		var ref *Refusal
		if err != nil {
			if !errors.As(err, &ref) {
				t.Fatalf("error is not a refusal: %v", err)
			}
			return
		}
		if !utf8.Valid(p.fields) || !json.Valid(p.fields) || depth(p.fields) > MaxDepth {
			t.Fatalf("stored form breaks a rule: %q", p.fields)
		}
		// Keys are re-encoded: U+2028 and U+2029 in a key come out escaped.
		if len(p.fields) > 2*len(payload) {
			t.Fatalf("stored form (%d bytes) is more than twice the message (%d)", len(p.fields), len(payload))
		}
		if checkMsgID(p.MsgID) != nil || p.Defects > MaxDetections {
			t.Fatalf("passed a bad msg_id %q or %d detections", p.MsgID, p.Defects)
		}
	})
}

// FuzzParseStatus: parsing a status never panics, and what passes has a
// state a device may report.
func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{`{"generation":3,"deployment":"01J","state":"RUNNING","message":"ok"}`, `{"telemetry":{"cpu":0.5}}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		st, err := ParseStatus(payload)
		var ref *Refusal
		if err != nil {
			if !errors.As(err, &ref) {
				t.Fatalf("error is not a refusal: %v", err)
			}
			return
		}
		if st.State != "" && !deviceStates[st.State] || st.Generation < 0 {
			t.Fatalf("passed state %q generation %d", st.State, st.Generation)
		}
	})
}
