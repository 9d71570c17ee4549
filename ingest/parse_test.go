package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func nested(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func detections(n int) string {
	return `{"msg_id":"m-1","detections":[` + strings.TrimSuffix(strings.Repeat(`{},`, n), ",") + `]}`
}

// Every rule at the door refuses what breaks it, naming the rule.
func TestParseResultRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, payload, rule string
	}{
		{"too large", `{"msg_id":"m","pad":"` + strings.Repeat("x", MaxResultBytes) + `"}`, "too_large"},
		{"nested 10,000 deep", `{"msg_id":"m","x":` + nested(10000) + `}`, "depth"},
		{"nested 33 deep", `{"msg_id":"m","x":` + nested(32) + `}`, "depth"},
		{"invalid UTF-8", "{\"msg_id\":\"m\",\"x\":\"\xff\xfe\"}", "utf8"},
		{"NUL in msg_id", `{"msg_id":"m\u0000x"}`, "msg_id"},
		{"newline in msg_id", `{"msg_id":"m\nx"}`, "msg_id"},
		{"non-ASCII msg_id", `{"msg_id":"mé"}`, "msg_id"},
		{"msg_id of 129 bytes", `{"msg_id":"` + strings.Repeat("a", 129) + `"}`, "msg_id"},
		{"no msg_id", `{"detections":[]}`, "msg_id"},
		{"msg_id not a string", `{"msg_id":7}`, "json"},
		{"not JSON", `not json at all`, "json"},
		{"not an object", `["msg_id"]`, "json"},
		{"null", `null`, "json"},
		{"another device", `{"msg_id":"m","device":"cam-2"}`, "device"},
		{"1,001 detections", detections(1001), "detections"},
		{"1,000,001 detections", detections(1000001), "detections"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseResult("cam-1", []byte(tc.payload))
			var ref *Refusal
			if !errors.As(err, &ref) || ref.Rule != tc.rule {
				t.Fatalf("err = %v, want a refusal by rule %q", err, tc.rule)
			}
		})
	}
}

// What passes is stored compact, whatever the device's formatting; the
// deepest allowed nesting and the most detections pass.
func TestParseResultAccepts(t *testing.T) {
	for _, tc := range []struct {
		name, payload string
		defects       int
	}{
		{"spaced out", "{ \"msg_id\" : \"01J-a b\",\n  \"detections\": [ {\"class\": \"scratch\"} ],\n \"device\": \"cam-1\" }", 1},
		{"31 deep inside the object", `{"msg_id":"m","x":` + nested(31) + `}`, 0},
		{"1,000 detections", detections(1000), 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseResult("cam-1", []byte(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			if p.Defects != tc.defects {
				t.Errorf("defects = %d, want %d", p.Defects, tc.defects)
			}
			var buf bytes.Buffer
			json.Compact(&buf, []byte(tc.payload))
			if len(p.fields) > buf.Len() || bytes.ContainsAny(p.fields, "\n\t") {
				t.Errorf("stored form %d bytes with whitespace, compact input is %d", len(p.fields), buf.Len())
			}
		})
	}
}

// An attached image leaves the stored message; a value that is not base64
// is kept as an (empty, refused later) image, not as a reason to drop the
// result.
func TestParseResultImage(t *testing.T) {
	p, err := ParseResult("cam-1", []byte(`{"msg_id":"m","image":{"name":"a.jpg"},"image_data":"aGVsbG8="}`))
	if err != nil || string(p.ImageData) != "hello" || bytes.Contains(p.fields, []byte("image_data")) {
		t.Fatalf("parsed %+v, %v", p, err)
	}
	p.withImage("stored", "abc")
	var got struct {
		Image map[string]string `json:"image"`
	}
	json.Unmarshal(p.fields, &got)
	if got.Image["name"] != "a.jpg" || got.Image["stored"] != "abc" {
		t.Errorf("image after storing = %v", got.Image)
	}
	p, err = ParseResult("cam-1", []byte(`{"msg_id":"m","image_data":"%%% not base64"}`))
	if err != nil || p.ImageData == nil || checkImage(p.ImageData) == nil {
		t.Errorf("bad base64: %+v, %v; want a result with an image to refuse", p, err)
	}
}

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct{ name, payload, rule string }{
		{"too large", `{"message":"` + strings.Repeat("x", MaxStatusBytes) + `"}`, "too_large"},
		{"deep telemetry", `{"telemetry":` + nested(40) + `}`, "depth"},
		{"invalid UTF-8", "{\"message\":\"\xc3\"}", "utf8"},
		{"unknown state", `{"deployment":"d","state":"PWNED"}`, "state"},
		{"negative generation", `{"generation":-1}`, "generation"},
		{"NUL in deployment", `{"deployment":"d\u0000","state":"RUNNING"}`, "deployment"},
		{"generation not a number", `{"generation":"7"}`, "json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseStatus([]byte(tc.payload))
			var ref *Refusal
			if !errors.As(err, &ref) || ref.Rule != tc.rule {
				t.Fatalf("err = %v, want a refusal by rule %q", err, tc.rule)
			}
		})
	}
	st, err := ParseStatus([]byte(`{"generation":3,"deployment":"01J","state":"RUNNING","components":{"a":"RUNNING"}}`))
	if err != nil || st.Generation != 3 || st.State != "RUNNING" {
		t.Errorf("valid status: %+v, %v", st, err)
	}
}

// An image_data key spelled with \u escapes is still found and taken out
// of the stored message, and a top-level value that is not an object is
// refused whichever way the message is parsed.
func TestParseResultImageKeyEscaped(t *testing.T) {
	p, err := ParseResult("cam-1", []byte(`{"msg_id":"m","image\u005fdata":"aGVsbG8="}`))
	if err != nil || string(p.ImageData) != "hello" || bytes.Contains(p.fields, []byte("aGVsbG8")) {
		t.Errorf("escaped image_data: %+v %v", p, err)
	}
	for _, payload := range []string{`[{"msg_id":"m"}]`, ` "m"`, `null`} {
		var ref *Refusal
		if _, err := ParseResult("cam-1", []byte(payload)); !errors.As(err, &ref) || ref.Rule != "json" {
			t.Errorf("%s: %v, want refused as json", payload, err)
		}
	}
}
