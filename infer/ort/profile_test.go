package ort

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Kernel events are summed by op type per frame; session and fence events
// are not kernel time.
func TestReadProfile(t *testing.T) {
	trace := `[
{"cat":"Session","name":"model_loading_uri","dur":5000,"args":{}},
{"cat":"Node","name":"conv1_fence_before","dur":0,"args":{"op_name":"Conv"}},
{"cat":"Node","name":"conv1_kernel_time","dur":3000,"args":{"op_name":"Conv"}},
{"cat":"Node","name":"conv2_kernel_time","dur":1000,"args":{"op_name":"Conv"}},
{"cat":"Node","name":"act_kernel_time","dur":1000,"args":{"op_name":"QuickGelu"}},
{"cat":"Node","name":"conv1_kernel_time","dur":3000,"args":{"op_name":"Conv"}},
{"cat":"Node","name":"conv2_kernel_time","dur":1000,"args":{"op_name":"Conv"}},
{"cat":"Node","name":"act_kernel_time","dur":1000,"args":{"op_name":"QuickGelu"}},
{"cat":"Session","name":"model_run","dur":10000,"args":{}}
]`
	path := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(path, []byte(trace), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readProfile(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []OpTime{{Op: "Conv", MS: 4, Share: 0.8, Nodes: 2}, {Op: "QuickGelu", MS: 1, Share: 0.2, Nodes: 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ops (-want +got):\n%s", diff)
	}
}

func TestReadProfileRefuses(t *testing.T) {
	tests := []struct{ name, trace, want string }{
		{"no kernel events", `[{"cat":"Session","name":"model_run","dur":10,"args":{}}]`, "has no kernel events"},
		{"not a trace", `{"cat":"Node"}`, "not a JSON array of trace events"},
		{"truncated", `[{"cat":"Node","name":"a_kernel_time","dur":1,"args":{"op_name":"Conv"}},`, "profile "},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "p.json")
		if err := os.WriteFile(path, []byte(tt.trace), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := readProfile(path, 1); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v; want one containing %q", tt.name, err, tt.want)
		}
	}
}
