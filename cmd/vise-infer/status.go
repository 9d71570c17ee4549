package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/vise-edge/vise/lineout"
	"github.com/vise-edge/vise/source"
)

// Component states in the status vise-infer publishes on status/<component>.
const (
	stateRunning  = "running"
	stateDegraded = "degraded" // a camera or an output is down; inference goes on
)

// componentStatus is what vise-infer reports to the agent.
type componentStatus struct {
	Ready         bool                      `json:"ready"`
	State         string                    `json:"state"`
	Reason        string                    `json:"reason,omitempty"`
	Images        int64                     `json:"images"`
	Errors        int64                     `json:"errors"`
	FramesDropped int64                     `json:"frames_dropped"`
	Source        *source.Status            `json:"source,omitempty"`
	Outputs       map[string]lineout.Status `json:"outputs,omitempty"`
}

func (c *counters) report() []byte {
	st := componentStatus{Ready: true, State: stateRunning, Images: c.images.Load(), Errors: c.errors.Load(), FramesDropped: c.dropped.Load()}
	if c.health != nil {
		c.health(&st)
	}
	b, _ := json.Marshal(st)
	return b
}

// health adds the camera's and the outputs' state, and says degraded
// with the reasons when one of them is down.
func (r *runner) health(st *componentStatus) {
	var why []string
	if s := r.sourceStatus(); s != nil {
		st.Source = s
		if s.State == source.StateDegraded {
			why = append(why, "camera: "+s.Reason)
		}
	}
	for i, o := range r.outputs {
		if st.Outputs == nil {
			st.Outputs = map[string]lineout.Status{}
		}
		os := o.Status()
		name := r.outputNames[i]
		st.Outputs[name] = os
		if !os.Up {
			why = append(why, fmt.Sprintf("output %s: %d undelivered: %s", name, os.Undelivered, os.LastError))
		}
	}
	if len(why) > 0 {
		st.State, st.Reason = stateDegraded, strings.Join(why, "; ")
	}
}
