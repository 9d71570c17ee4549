package vise

import "time"

// Event types of model-quality monitoring; the subject is the device.
const (
	EventQualityDrift     = "quality.drift"     // a window departed from its baseline
	EventQualityRecovered = "quality.recovered" // it came back within the margins
)

// QualityStats are a model's figures over a set of results: the share of
// frames with a detection, the mean of each frame's top confidence (over
// frames with a detection; nil without one), and the share of frames
// whose top confidence is in the uncertainty window.
type QualityStats struct {
	Frames            int64    `json:"frames"`
	DefectRate        float64  `json:"defect_rate"`
	MeanTopConfidence *float64 `json:"mean_top_confidence,omitempty"`
	UncertainShare    float64  `json:"uncertain_share"`
}

// QualityBaseline is what a model version's windows are compared with:
// its figures on the canary devices during the canary period of its first
// deployment. Missing says why there is none (then nothing is judged).
type QualityBaseline struct {
	Model      string    `json:"model"` // NAME@VERSION, or the sha256 if the registry does not know it
	SHA256     string    `json:"sha256"`
	Deployment string    `json:"deployment,omitempty"`
	From       time.Time `json:"from,omitzero"`
	To         time.Time `json:"to,omitzero"`
	Devices    []string  `json:"devices,omitempty"`
	QualityStats
	Missing string `json:"missing,omitempty"`
}

// QualityPoint is one sliding window of one device and model, ending At.
type QualityPoint struct {
	At    time.Time `json:"at"`
	Model string    `json:"model"`
	QualityStats
}

// QualityDrift is a drift or recovered event's data, and a marker on the
// dashboard's plot.
type QualityDrift struct {
	Device   string       `json:"device"`
	Model    string       `json:"model"`
	SHA256   string       `json:"sha256"`
	At       time.Time    `json:"at"`
	Window   QualityStats `json:"window"`
	Baseline QualityStats `json:"baseline"`
	Departed []string     `json:"departed,omitempty"` // "defect_rate 0.42 vs 0.10 (margin 0.15)", …
	Type     string       `json:"type,omitempty"`     // the event type, in a series' markers
}

// QualitySeries is a device's model-quality windows over a time range,
// with the baselines they are judged against and the drift markers.
type QualitySeries struct {
	Device    string            `json:"device"`
	From      time.Time         `json:"from"`
	To        time.Time         `json:"to"`
	Window    string            `json:"window"`
	Step      string            `json:"step"`
	Points    []QualityPoint    `json:"points"`
	Baselines []QualityBaseline `json:"baselines"`
	Markers   []QualityDrift    `json:"markers"`
}
