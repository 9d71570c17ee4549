package deviceapi

import "time"

// Verdict is the pass/reject decision for one frame, published on
// verdicts/<component> at the device, forwarded on VerdictTopic and sent
// to webhooks.
type Verdict struct {
	Schema     int       `json:"schema"`
	MsgID      string    `json:"msg_id"`
	ResultID   string    `json:"result_id"` // the msg_id of the result it was decided from
	Device     string    `json:"device"`
	Component  string    `json:"component"`
	PartID     string    `json:"part_id,omitempty"`
	Image      string    `json:"image"`
	CapturedAt time.Time `json:"captured_at"`
	DecidedAt  time.Time `json:"decided_at"`
	Reject     bool      `json:"reject"`
	// Reasons say which detections (or which error) made it a reject.
	Reasons []string `json:"reasons,omitempty"`
}
