package vise

import (
	"encoding/json"
	"time"
)

// Result is one inference result as stored: the device's JSON message
// (DESIGN.md's result schema) plus what the server indexes.
type Result struct {
	MsgID      string          `json:"msg_id"`
	Device     string          `json:"device"`
	Component  string          `json:"component"`
	Defects    int             `json:"defects"`
	Payload    json.RawMessage `json:"payload"`
	ReceivedAt time.Time       `json:"received_at"`
	// ModelSHA256 and TopConfidence are indexed from the payload at ingest
	// for model-quality windows: the model that inferred (empty for an
	// unreadable image) and the highest detection confidence (nil without one).
	ModelSHA256   string   `json:"-"`
	TopConfidence *float64 `json:"-"`
}
