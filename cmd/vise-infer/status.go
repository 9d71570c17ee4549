package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vise-edge/vise/lineout"
	"github.com/vise-edge/vise/sendback"
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
	Rejects       int64                     `json:"rejects"`
	FPS           float64                   `json:"fps"` // results per second since the last report
	Source        *source.Status            `json:"source,omitempty"`
	Outputs       map[string]lineout.Status `json:"outputs,omitempty"`
	SendBack      *sendback.Counts          `json:"send_back,omitempty"`
}

func (c *counters) report() []byte {
	st := componentStatus{Ready: true, State: stateRunning, Images: c.images.Load(), Errors: c.errors.Load(), FramesDropped: c.dropped.Load(),
		Rejects: c.rejects.Load(), FPS: c.rate()}
	if c.health != nil {
		c.health(&st)
	}
	if c.sendBack != nil {
		sb := c.sendBack()
		st.SendBack = &sb
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

// rate is results per second since it was last asked.
func (c *counters) rate() float64 {
	c.rateMu.Lock()
	defer c.rateMu.Unlock()
	now, n := time.Now(), c.images.Load()
	var fps float64
	if !c.lastAt.IsZero() && now.After(c.lastAt) {
		fps = float64(n-c.lastImages) / now.Sub(c.lastAt).Seconds()
	}
	c.lastAt, c.lastImages = now, n
	return math.Round(fps*10) / 10
}
