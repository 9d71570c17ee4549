package infer

import "time"

// Schema is the version of Result's JSON form.
const Schema = 1

// Result is the message a device publishes for each image (schema 1 of
// DESIGN.md). The agent fills in Device and Component when it forwards it.
type Result struct {
	Schema    int      `json:"schema"`
	MsgID     string   `json:"msg_id"`
	Device    string   `json:"device"`
	Component string   `json:"component"`
	Model     ModelRef `json:"model"`
	Image     ImageRef `json:"image"`
	// PartID names the inspected part when a trigger gave one.
	PartID     string      `json:"part_id,omitempty"`
	CapturedAt time.Time   `json:"captured_at"`
	InferredAt time.Time   `json:"inferred_at"`
	LatencyMS  Latency     `json:"latency_ms"`
	Detections []Detection `json:"detections"`
	// ImageData is the image file (base64 in JSON) when it is uploaded for
	// a person to look at: defects, and a sample of the rest for labelling.
	ImageData []byte `json:"image_data,omitempty"`
	// Error is set, and Detections empty, for an image that could not be
	// read: the "error event" a corrupt or foreign file produces.
	Error string `json:"error,omitempty"`
	// Reason is why the image was sent back (defect, uncertain, sample:
	// the send-back policy's sendback.Reason), empty when it was not.
	Reason string `json:"reason,omitempty"`
	// ComponentVersion is the version of the inference component that
	// produced the result (VISE_COMPONENT_VERSION from the agent).
	ComponentVersion string `json:"component_version,omitempty"`
}

// ModelRef names the model that produced a result.
type ModelRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

// ImageRef describes the inspected image.
type ImageRef struct {
	Name   string `json:"name"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	SHA256 string `json:"sha256"`
}

// Latency splits the time spent on one image, in milliseconds.
type Latency struct {
	Pre   float64 `json:"pre"`
	Infer float64 `json:"infer"`
	Post  float64 `json:"post"`
}
