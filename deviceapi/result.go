package deviceapi

import "time"

// Result is the message a component publishes for each image (results/<c>
// on the local IPC endpoint) and its agent forwards on ResultTopic, with
// Device, Component and MsgID filled in. Boxes are in original image
// pixels, x/y the top-left corner.
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
	// Reason says why the image came along (ReasonDefect, ReasonUncertain,
	// ReasonSample); it decides which images a full outbox gives up first.
	Reason string `json:"reason,omitempty"`
	// ComponentVersion is the version of the inference component that
	// produced the result (VISE_COMPONENT_VERSION from the agent).
	ComponentVersion string `json:"component_version,omitempty"`
	// ImageData is the image file (base64 in JSON) when it is uploaded for
	// a person to look at: defects, and a sample of the rest for labelling.
	ImageData []byte `json:"image_data,omitempty"`
	// ImageDropped is set by an agent that kept the result but gave up its
	// image to stay under its disk cap (ImageDroppedDiskCap).
	ImageDropped string `json:"image_dropped,omitempty"`
	// Error is set, and Detections empty, for an image that could not be
	// read: the "error event" a corrupt or foreign file produces.
	Error string `json:"error,omitempty"`
}

// Why an image comes back with its result (Result.Reason).
const (
	ReasonDefect    = "defect"    // something was found
	ReasonUncertain = "uncertain" // a detection near the threshold: worth a person's look
	ReasonSample    = "sample"    // a random sample of the rest, for labelling
)

// ImageDroppedDiskCap: the device's outbox was full.
const ImageDroppedDiskCap = "disk_cap"

// ModelRef names the model that produced a result.
type ModelRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

// ImageRef describes the inspected image. Stored and NotStored are the
// server's note of where an attached image went (its sha256 in the blob
// store, or why not); a device leaves them empty.
type ImageRef struct {
	Name      string `json:"name"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	SHA256    string `json:"sha256"`
	Stored    string `json:"stored,omitempty"`
	NotStored string `json:"not_stored,omitempty"`
}

// Latency splits the time spent on one image, in milliseconds.
type Latency struct {
	Pre   float64 `json:"pre"`
	Infer float64 `json:"infer"`
	Post  float64 `json:"post"`
}

// Detection is one found object.
type Detection struct {
	Class      string  `json:"class"`
	ClassID    int     `json:"class_id"`
	Confidence float64 `json:"confidence"`
	Box        Box     `json:"box"`
}

// Box is an axis-aligned box in original image pixels, X/Y its top-left.
type Box struct {
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
}
