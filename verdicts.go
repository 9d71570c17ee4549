package vise

import (
	"encoding/json"
	"time"

	"github.com/vise-edge/vise/sendback"
)

// Verdict is one pass/reject verdict as stored: the device's message
// (verdict.Verdict) plus what the server indexes. ResultID joins it to
// the result it was decided from.
type Verdict struct {
	MsgID      string          `json:"msg_id"`
	Device     string          `json:"device"`
	Component  string          `json:"component"`
	ResultID   string          `json:"result_id"`
	PartID     string          `json:"part_id,omitempty"`
	Reject     bool            `json:"reject"`
	Payload    json.RawMessage `json:"payload"`
	ReceivedAt time.Time       `json:"received_at"`
}

// Component states a component reports about itself (ComponentHealth.State).
const (
	ComponentRunning  = "running"
	ComponentDegraded = "degraded" // a camera or a line output is down; inspection goes on
)

// ComponentHealth is what a device's status says about one of its running
// components (the "health" map), from the component's own report on the
// local IPC endpoint.
type ComponentHealth struct {
	Ready         bool    `json:"ready"`
	State         string  `json:"state,omitempty"`
	Reason        string  `json:"reason,omitempty"` // why it is degraded
	Images        int64   `json:"images,omitempty"`
	Errors        int64   `json:"errors,omitempty"`
	FramesDropped int64   `json:"frames_dropped,omitempty"`
	Rejects       int64   `json:"rejects,omitempty"`
	FPS           float64 `json:"fps,omitempty"` // results per second lately
	// SendBack counts the images kept and skipped per reason.
	SendBack *sendback.Counts `json:"send_back,omitempty"`
}
