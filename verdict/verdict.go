// Package verdict decides from a frame's inference result whether the part
// it shows passes or is rejected, by rules in the component configuration
// (reject_when), and defines the verdict message that goes to the line and
// to the server.
package verdict

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/infer"
)

// Schema is the version of Verdict's JSON form.
const Schema = deviceapi.VerdictSchema

// Verdict is the message published for each frame; its one type is in
// deviceapi, the device contract.
type Verdict = deviceapi.Verdict

// Condition is one reject_when entry: the part is rejected when at least
// MinCount detections have one of Classes (any class if empty), at least
// MinConfidence and a box of at least MinBoxArea pixels.
type Condition struct {
	Classes       []string `json:"classes,omitempty"`
	MinConfidence float64  `json:"min_confidence,omitempty"`
	MinBoxArea    float64  `json:"min_box_area,omitempty"`
	MinCount      int      `json:"min_count,omitempty"` // default 1
}

// Rules are the reject_when conditions; any one that holds rejects. No
// conditions means any detection rejects: the model is a defect detector.
type Rules struct {
	When []Condition
}

// fields lists a condition's settings for error messages.
const fields = "classes, min_confidence, min_box_area, min_count"

// Parse reads reject_when (one condition object or a list of them),
// refusing an unknown field or a class the model does not have, naming it.
func Parse(raw json.RawMessage, classes []string) (Rules, error) {
	var r Rules
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return r, nil
	}
	if raw[0] != '[' {
		raw = append(append([]byte{'['}, raw...), ']')
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r.When); err != nil {
		return r, fmt.Errorf("reject_when: %w (a condition has %s)", err, fields)
	}
	for i, c := range r.When {
		for _, name := range c.Classes {
			if !slices.Contains(classes, name) {
				return r, fmt.Errorf("reject_when[%d]: class %q is not one the model detects (it has: %s)", i, name, strings.Join(classes, ", "))
			}
		}
		if c.MinConfidence < 0 || c.MinConfidence > 1 {
			return r, fmt.Errorf("reject_when[%d]: min_confidence %g is not between 0 and 1", i, c.MinConfidence)
		}
		if c.MinBoxArea < 0 || c.MinCount < 0 {
			return r, fmt.Errorf("reject_when[%d]: min_box_area and min_count must not be negative", i)
		}
	}
	return r, nil
}

// Decide returns whether the result's part is rejected and why. A frame
// that could not be inspected is rejected: on a line an uninspected part
// must not pass as good.
func (r Rules) Decide(res *infer.Result) (reject bool, reasons []string) {
	if res.Error != "" {
		return true, []string{"not inspected: " + res.Error}
	}
	conds := r.When
	if len(conds) == 0 {
		conds = []Condition{{}}
	}
	for _, c := range conds {
		var hits []string
		for _, d := range res.Detections {
			if c.matches(d) {
				hits = append(hits, fmt.Sprintf("%s %.2f at %.0f,%.0f %.0fx%.0f", d.Class, d.Confidence, d.Box.X, d.Box.Y, d.Box.Width, d.Box.Height))
			}
		}
		if len(hits) >= max(c.MinCount, 1) {
			reasons = append(reasons, hits...)
			reject = true
		}
	}
	return reject, reasons
}

func (c Condition) matches(d infer.Detection) bool {
	return (len(c.Classes) == 0 || slices.Contains(c.Classes, d.Class)) &&
		d.Confidence >= c.MinConfidence && float64(d.Box.Width*d.Box.Height) >= c.MinBoxArea
}
