package registry

import (
	"strings"
	"testing"
)

func TestGate(t *testing.T) {
	rules, err := ParseGate("map50>=0.6, map50_95 > 0.4,latency_ms<50")
	if err != nil || len(rules) != 3 {
		t.Fatalf("ParseGate: %v %v", rules, err)
	}
	tests := []struct {
		metrics map[string]float64
		want    string
	}{
		{map[string]float64{"map50": 0.6, "map50_95": 0.41, "latency_ms": 49}, ""},
		{map[string]float64{"map50": 0.59, "map50_95": 0.41, "latency_ms": 49}, "map50 is 0.59, the gate wants map50 >= 0.6"},
		{map[string]float64{"map50": 0.7, "map50_95": 0.4, "latency_ms": 49}, "map50_95 is 0.4, the gate wants map50_95 > 0.4"},
		{map[string]float64{"map50": 0.7, "map50_95": 0.5}, "metric latency_ms is missing"},
	}
	for _, tt := range tests {
		got := check(rules, tt.metrics)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("check(%v) = %q, want %q", tt.metrics, got, tt.want)
		}
	}
	for _, bad := range []string{"map50", "map50=>0.6", ">=0.6", "map50>=high"} {
		if _, err := ParseGate(bad); err == nil {
			t.Errorf("ParseGate(%q) accepted", bad)
		}
	}
}
