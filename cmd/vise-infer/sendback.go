package main

import (
	"os"
	"time"

	"github.com/vise-edge/vise/infer"
)

// attach asks the send-back policy whether res goes back with its image,
// and marks the result with the reason when it does.
func (r *runner) attach(res *infer.Result) bool {
	confs := make([]float64, len(res.Detections))
	for i, d := range res.Detections {
		confs[i] = d.Confidence
	}
	reason := r.sendBack.Decide(time.Now(), confs)
	res.Reason = string(reason)
	return reason != ""
}

// provenance is what a result says about where it came from beyond the
// model and capture time: the device and the component version, as the
// agent tells the component.
type provenance struct {
	device, componentVersion string
}

func provenanceFromEnv() provenance {
	return provenance{device: os.Getenv("VISE_DEVICE"), componentVersion: os.Getenv("VISE_COMPONENT_VERSION")}
}

func (p provenance) stamp(res *infer.Result) {
	if res.Device == "" {
		res.Device = p.device
	}
	res.ComponentVersion = p.componentVersion
}
