package vise

import "time"

// LabelState is where an image stands in the labelling queue.
type LabelState string

// Label states. An image comes in New; a person's save makes it Labelled
// (boxes, possibly none: "no defect") or Skipped.
const (
	LabelNew      LabelState = "new"
	LabelLabelled LabelState = "labelled"
	LabelSkipped  LabelState = "skipped"
)

// LabelReason is why an image came back from a device.
type LabelReason string

// Label reasons: Uncertain if the device said so (the result's "reason")
// or the model's top confidence falls in the server's uncertainty window;
// otherwise Defect if the model found something, Sample if not.
const (
	ReasonDefect    LabelReason = "defect"
	ReasonUncertain LabelReason = "uncertain"
	ReasonSample    LabelReason = "sample"
)

// MaxLabelBoxes bounds the boxes one image's label may hold.
const MaxLabelBoxes = 1000

// LabelBox is one box of a label or a pre-label, in original image pixels,
// X/Y the top-left corner (as in a result's detections).
type LabelBox struct {
	Class  string  `json:"class"`
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
	// Confidence is the model's, on pre-labels only.
	Confidence float64 `json:"confidence,omitempty"`
}

// LabelModel names the model that made an image's pre-labels.
type LabelModel struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

// LabelImage is one image in the labelling queue: where it came from, the
// model's boxes, and the person's label. Version counts saves; a save names
// the version it started from, so a second person's save over the first is
// refused rather than lost.
type LabelImage struct {
	Device    string `json:"device"`
	MsgID     string `json:"msg_id"`
	Component string `json:"component"`
	// ComponentVersion and PartID are provenance the device sent, if any.
	ComponentVersion string      `json:"component_version,omitempty"`
	PartID           string      `json:"part_id,omitempty"`
	Model            LabelModel  `json:"model"`
	ImageSHA256      string      `json:"image_sha256"`
	ImageName        string      `json:"image_name,omitempty"`
	Width            int         `json:"width"`
	Height           int         `json:"height"`
	Reason           LabelReason `json:"reason"`
	TopConfidence    *float64    `json:"top_confidence,omitempty"`
	Prelabels        []LabelBox  `json:"prelabels"`
	CapturedAt       *time.Time  `json:"captured_at,omitempty"`
	ReceivedAt       time.Time   `json:"received_at"`
	State            LabelState  `json:"state"`
	Boxes            []LabelBox  `json:"boxes"`
	Version          int         `json:"version"`
	LabelledBy       string      `json:"labelled_by,omitempty"`
	LabelledAt       *time.Time  `json:"labelled_at,omitempty"`
	// Classes are the class names a box may have: the model's, from the
	// registry. Set on a single image, not in lists.
	Classes []string `json:"classes,omitempty"`
}

// SaveLabelRequest stores a person's label of an image. Version is the
// image's version the person started from (0 for a new image).
type SaveLabelRequest struct {
	Version int        `json:"version"`
	State   LabelState `json:"state"` // labelled or skipped
	Boxes   []LabelBox `json:"boxes"`
}

// LabelFilter selects images of the labelling queue; empty fields select
// all. Model is a model name or NAME@VERSION.
type LabelFilter struct {
	Device string
	Model  string
	Reason LabelReason
	State  LabelState
	Limit  int
}

// ConfidenceWindow is the range of a model's top confidence that makes an
// image uncertain, bounds included. A window with Lo > Hi holds nothing.
type ConfidenceWindow struct {
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
}

// DefaultUncertainWindow is the server's default uncertainty window.
var DefaultUncertainWindow = ConfidenceWindow{Lo: 0.25, Hi: 0.6}
