package vise

import (
	"encoding/json"
	"time"

	"github.com/vise-edge/vise/deviceapi"
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
	ComponentRunning  = deviceapi.ComponentRunning
	ComponentDegraded = deviceapi.ComponentDegraded
)

// ComponentHealth is what a device's status says about one of its running
// components; its one type is in deviceapi.
type ComponentHealth = deviceapi.ComponentHealth
