package vise

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Target
		old  bool
	}{
		{"group:line-1", Target{Kind: TargetGroup, Name: "line-1"}, false},
		{"device:cam-1", Target{Kind: TargetDevice, Name: "cam-1"}, false},
		{"group/line-1", Target{Kind: TargetGroup, Name: "line-1"}, true},
		{"device/cam-1", Target{Kind: TargetDevice, Name: "cam-1"}, true},
	} {
		got, old, err := ParseTarget(tc.in)
		if err != nil || old != tc.old || got != tc.want {
			t.Errorf("ParseTarget(%q) = %v, old %v, %v; want %v, old %v", tc.in, got, old, err, tc.want, tc.old)
		}
		if diff := cmp.Diff(tc.want.Kind+":"+tc.want.Name, got.String()); diff != "" {
			t.Errorf("String of %q (-want +got):\n%s", tc.in, diff)
		}
	}
	for _, bad := range []string{"", "line-1", "rack:x", "group:", "group/", "group:a/b", "device/a:b", ":x"} {
		if _, _, err := ParseTarget(bad); ErrorCode(err) != CodeInvalid {
			t.Errorf("ParseTarget(%q): %v; want invalid", bad, err)
		}
	}
}
