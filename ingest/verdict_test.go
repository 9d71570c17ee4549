package ingest

import (
	"errors"
	"strings"
	"testing"
)

func TestParseVerdict(t *testing.T) {
	for _, tc := range []struct {
		name, payload, rule string
	}{
		{"fine", `{"schema":1,"msg_id":"v-1","result_id":"r-1","part_id":"P-1","reject":true,"reasons":["scratch 0.91"]}`, ""},
		{"no msg_id", `{"reject":true}`, "msg_id"},
		{"reject not a bool", `{"msg_id":"v","reject":"yes"}`, "json"},
		{"bad result_id", `{"msg_id":"v","result_id":"r\n"}`, "result_id"},
		{"long part_id", `{"msg_id":"v","part_id":"` + strings.Repeat("p", 129) + `"}`, "part_id"},
		{"another device", `{"msg_id":"v","device":"cam-2"}`, "device"},
		{"too large", `{"msg_id":"v","reasons":["` + strings.Repeat("x", MaxVerdictBytes) + `"]}`, "too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseVerdict("cam-1", []byte(tc.payload))
			if tc.rule == "" {
				if err != nil || v.PartID != "P-1" || !v.Reject {
					t.Fatalf("ParseVerdict = %+v, %v", v, err)
				}
				return
			}
			var ref *Refusal
			if !errors.As(err, &ref) || ref.Rule != tc.rule {
				t.Fatalf("err = %v, want a refusal by rule %q", err, tc.rule)
			}
		})
	}
	if d, c, ok := VerdictTopic("vise/devices/cam-1/verdicts/vise.inspect"); !ok || d != "cam-1" || c != "vise.inspect" {
		t.Errorf("VerdictTopic = %q %q %v", d, c, ok)
	}
}
