// Package sendback decides which inspected frames a device sends back to
// the server with their image: defects, uncertain frames (a detection whose
// confidence falls in a window) and a random sample of the rest, each
// within an hourly budget, and counts what it kept and skipped and why.
// It is the policy of the inference component's "send_back" setting.
package sendback

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// MaxPerHour bounds a per_hour cap: the policy remembers one timestamp per
// image sent in the last hour.
const MaxPerHour = 1_000_000

// Config is the "send_back" section of the inference component's
// configuration. A section left out sends nothing for its reason, except
// Defects: left out, every defect is sent (the old default).
type Config struct {
	Defects   *Defects   `json:"defects,omitempty"`
	Uncertain *Uncertain `json:"uncertain,omitempty"`
	Sample    *Sample    `json:"sample,omitempty"`
}

// Defects sends frames with a detection.
type Defects struct {
	// PerHour caps defect images sent in any hour; nil is no cap, 0 sends none.
	PerHour *int `json:"per_hour,omitempty"`
}

// Uncertain sends frames with a detection whose confidence is in
// [Min, Max]. The model's confidence threshold must be at most Min for
// low scores to reach the policy.
type Uncertain struct {
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	PerHour *int    `json:"per_hour,omitempty"`
}

// Sample sends a random share Rate (0–1) of the frames that are neither
// defects nor uncertain.
type Sample struct {
	Rate    float64 `json:"rate"`
	PerHour *int    `json:"per_hour,omitempty"`
}

// fields are the keys each level of the section allows, for errors that
// name the bad one.
var fields = map[string][]string{
	"send_back":           {"defects", "uncertain", "sample"},
	"send_back.defects":   {"per_hour"},
	"send_back.uncertain": {"min", "max", "per_hour"},
	"send_back.sample":    {"rate", "per_hour"},
}

// Parse reads a "send_back" section and checks it; the error names the
// bad field (send_back.uncertain.min, …).
func Parse(raw []byte) (Config, error) {
	var c Config
	if err := checkKeys("send_back", raw); err != nil {
		return c, err
	}
	var sections map[string]json.RawMessage
	json.Unmarshal(raw, &sections)
	for _, name := range fields["send_back"] {
		if s, ok := sections[name]; ok && !isNull(s) {
			if err := checkKeys("send_back."+name, s); err != nil {
				return c, err
			}
		}
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	if err := d.Decode(&c); err != nil {
		var te *json.UnmarshalTypeError
		if asType(err, &te) {
			return c, fmt.Errorf("send_back.%s: wants a %s, not a JSON %s", te.Field, te.Type, te.Value)
		}
		return c, fmt.Errorf("send_back: %w", err)
	}
	return c, c.Check()
}

func isNull(b []byte) bool { return bytes.Equal(bytes.TrimSpace(b), []byte("null")) }

func asType(err error, te **json.UnmarshalTypeError) bool {
	t, ok := err.(*json.UnmarshalTypeError)
	*te = t
	return ok
}

// checkKeys refuses a level that is not an object or has a key it does not know.
func checkKeys(path string, raw []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return fmt.Errorf("%s: wants a JSON object", path)
	}
	known := fields[path]
	for k := range m {
		if !slices.Contains(known, k) {
			return fmt.Errorf("%s.%s: unknown field; %s takes %s", path, k, path, strings.Join(known, ", "))
		}
	}
	return nil
}

// Check holds a configuration to its rules; the error names the bad field.
func (c Config) Check() error {
	if c.Defects != nil {
		if err := checkCap("send_back.defects.per_hour", c.Defects.PerHour); err != nil {
			return err
		}
	}
	if u := c.Uncertain; u != nil {
		if err := checkShare("send_back.uncertain.min", u.Min); err != nil {
			return err
		}
		if err := checkShare("send_back.uncertain.max", u.Max); err != nil {
			return err
		}
		if u.Min > u.Max {
			return fmt.Errorf("send_back.uncertain.min %g is above send_back.uncertain.max %g: the window would hold nothing", u.Min, u.Max)
		}
		if err := checkCap("send_back.uncertain.per_hour", u.PerHour); err != nil {
			return err
		}
	}
	if s := c.Sample; s != nil {
		if err := checkShare("send_back.sample.rate", s.Rate); err != nil {
			return err
		}
		if err := checkCap("send_back.sample.per_hour", s.PerHour); err != nil {
			return err
		}
	}
	return nil
}

func checkShare(field string, v float64) error {
	if math.IsNaN(v) || v < 0 || v > 1 {
		return fmt.Errorf("%s %g: must be between 0 and 1", field, v)
	}
	return nil
}

func checkCap(field string, n *int) error {
	if n != nil && (*n < 0 || *n > MaxPerHour) {
		return fmt.Errorf("%s %d: must be between 0 and %d (leave it out for no cap)", field, *n, MaxPerHour)
	}
	return nil
}

// Legacy is the policy the old settings meant: upload "defects" (every
// defect and a share `sample` of the rest), "all" or "none".
func Legacy(upload string, sample float64) (Config, error) {
	zero := 0
	switch upload {
	case "all":
		return Config{Defects: &Defects{}, Sample: &Sample{Rate: 1}}, nil
	case "none":
		return Config{Defects: &Defects{PerHour: &zero}}, nil
	case "defects", "":
		if err := checkShare("upload_sample", sample); err != nil {
			return Config{}, err
		}
		c := Config{Defects: &Defects{}}
		if sample > 0 {
			c.Sample = &Sample{Rate: sample}
		}
		return c, nil
	}
	return Config{}, fmt.Errorf("upload %q: use defects, all or none (or the send_back setting)", upload)
}
