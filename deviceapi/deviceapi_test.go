package deviceapi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTopicsRoundTrip(t *testing.T) {
	if d, ok := ParseStatusTopic(StatusTopic("cam-1")); !ok || d != "cam-1" {
		t.Errorf("status topic: %q %v", d, ok)
	}
	if d, c, ok := ParseResultTopic(ResultTopic("cam-1", "vise.inspect")); !ok || d != "cam-1" || c != "vise.inspect" {
		t.Errorf("result topic: %q %q %v", d, c, ok)
	}
	if d, c, ok := ParseVerdictTopic(VerdictTopic("cam-1", "vise.inspect")); !ok || d != "cam-1" || c != "vise.inspect" {
		t.Errorf("verdict topic: %q %q %v", d, c, ok)
	}
	if got := TopicDevice(DeploymentsTopic("cam-1")); got != "cam-1" {
		t.Errorf("TopicDevice = %q", got)
	}
	for _, bad := range []string{"", "vise/devices//status", "vise/devices/a/status/x", "vise/devices/a/inference/", "other/devices/a/status",
		"vise/devices/a/verdicts/c", "vise/devices/a/inference/c/d"} {
		if _, _, ok := ParseResultTopic(bad); ok {
			t.Errorf("ParseResultTopic(%q) accepted", bad)
		}
		if _, ok := ParseStatusTopic(bad); ok {
			t.Errorf("ParseStatusTopic(%q) accepted", bad)
		}
	}
}

func TestSplitToken(t *testing.T) {
	pin := "0123456789abcdef0123456789abcdef"
	secret, got, err := SplitToken(" " + JoinToken("s3cretsecretsecretsecret", pin) + "\n")
	if err != nil || secret != "s3cretsecretsecretsecret" || got != pin {
		t.Errorf("SplitToken = %q %q %v", secret, got, err)
	}
	for _, bad := range []string{"", "nodot", "short." + pin, "s3cretsecretsecretsecret.abc", "s3cretsecretsecretsecret." + pin + "0"} {
		if _, _, err := SplitToken(bad); !errors.Is(err, ErrMalformedToken) {
			t.Errorf("SplitToken(%q) = %v, want ErrMalformedToken", bad, err)
		}
	}
}

// A message from a newer sender: its unknown fields are ignored and
// reported, what the reader knows is kept; a wrong type is an error.
func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Result
		info     Info
		err      bool
	}{
		{"known", `{"schema":1,"msg_id":"a"}`, Result{Schema: 1, MsgID: "a"}, Info{}, false},
		{"unknown field", `{"schema":2,"msg_id":"a","exposure_us":800,"detections":[{"class":"x","mask":[1,2]}]}`,
			Result{Schema: 2, MsgID: "a", Detections: []Detection{{Class: "x"}}}, Info{Unknown: "exposure_us"}, false},
		{"wrong type", `{"msg_id":7}`, Result{}, Info{}, true},
		{"not an object", `[1]`, Result{}, Info{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got Result
			info, err := Decode([]byte(tc.in), &got)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if tc.err {
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
			if info != tc.info {
				t.Errorf("info = %+v, want %+v", info, tc.info)
			}
		})
	}
}

// The status the agent sends is the status the server reads: telemetry
// flattened into one object, as the dashboard and CLI read it.
func TestStatusTelemetryShape(t *testing.T) {
	st := Status{Generation: 3, Telemetry: &Telemetry{LinkUp: true, Outbox: Outbox{QueueDepth: 4, ImagesDropped: 1}}}
	b, _ := json.Marshal(st)
	var flat struct {
		Telemetry map[string]any `json:"telemetry"`
	}
	json.Unmarshal(b, &flat)
	if flat.Telemetry["queue_depth"] != 4.0 || flat.Telemetry["images_dropped"] != 1.0 || flat.Telemetry["link_up"] != true {
		t.Errorf("telemetry JSON %s", b)
	}
	var back Status
	if info, err := Decode(b, &back); err != nil || info.Unknown != "" || back.Telemetry.QueueDepth != 4 {
		t.Errorf("decode back: %+v %+v %v", back.Telemetry, info, err)
	}
}

func FuzzParseResultTopic(f *testing.F) {
	f.Add("vise/devices/a/inference/b")
	f.Add("vise/devices/a/status")
	f.Fuzz(func(t *testing.T, topic string) {
		if d, c, ok := ParseResultTopic(topic); ok && ResultTopic(d, c) != topic {
			t.Errorf("%q parsed to %q %q", topic, d, c)
		}
		if d, ok := ParseStatusTopic(topic); ok && StatusTopic(d) != topic {
			t.Errorf("%q parsed to %q", topic, d)
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"schema":1,"msg_id":"a","x":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Result
		Decode(b, &r) // must not panic
	})
}

func TestClientDevice(t *testing.T) {
	tests := []struct {
		id, device string
		candidate  bool
	}{
		{"press-7", "press-7", false},
		{CandidateClientID("press-7"), "press-7", true},
		{"press-7~candidate~candidate", "press-7~candidate", true},
		{"~candidate", "", true},
	}
	for _, tt := range tests {
		d, c := ClientDevice(tt.id)
		if d != tt.device || c != tt.candidate {
			t.Errorf("ClientDevice(%q) = %q, %v; want %q, %v", tt.id, d, c, tt.device, tt.candidate)
		}
	}
}

// Decode keeps its Decoders from one message to the next: whatever the
// last message left (an error, trailing bytes, an unknown field), the next
// one decodes as on its own, and a known message allocates less than
// json.Unmarshal does (no Decoder, buffer and scanner a message).
func TestDecodeReuse(t *testing.T) {
	want := Result{Schema: 1, MsgID: "b", Detections: []Detection{{Class: "y", Confidence: 0.5}}}
	good := `{"schema":1,"msg_id":"b","detections":[{"class":"y","confidence":0.5}]}`
	for _, before := range []string{
		`{"schema":1,"msg_id":"a"}`, `{"schema":1,"msg_id":`, `{"msg_id":7}`, `{"schema":1} {"msg_id":"x"}`, `{"schema":1}  `,
		`{"schema":1,"extra":true}`, `[1]`, `{"msg_id":"` + strings.Repeat("a", maxPooledMessage) + `"}`,
	} {
		var r Result
		Decode([]byte(before), &r)
		var got Result
		info, err := Decode([]byte(good), &got)
		if err != nil || info != (Info{}) {
			t.Fatalf("after %.40q: info %+v, err %v", before, info, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("after %.40q (-want +got):\n%s", before, diff)
		}
	}
	decode := testing.AllocsPerRun(100, func() { var r Result; Decode(benchPayload, &r) })
	unmarshal := testing.AllocsPerRun(100, func() { var r Result; json.Unmarshal(benchPayload, &r) })
	if decode >= unmarshal {
		t.Errorf("Decode allocates %.1f times a message, json.Unmarshal %.1f", decode, unmarshal)
	}
}
