package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise/sendback"
)

// The send-back counts a component reports reach the device status.
func TestComponentStatusKeepsSendBackCounts(t *testing.T) {
	a := &Agent{}
	a.onComponentStatus("vise.inspect", []byte(`{"ready":true,"state":"running","images":40,`+
		`"send_back":{"defect":{"kept":3,"over_cap":1},"uncertain":{"kept":2,"over_cap":0},"sample":{"kept":1,"over_cap":4},"not_sampled":29}}`))
	want := &sendback.Counts{Defect: sendback.Count{Kept: 3, OverCap: 1}, Uncertain: sendback.Count{Kept: 2}, Sample: sendback.Count{Kept: 1, OverCap: 4}, NotSampled: 29}
	if diff := cmp.Diff(want, a.componentHealth()["vise.inspect"].SendBack); diff != "" {
		t.Errorf("send-back counts in the health report (-want +got):\n%s", diff)
	}
}
