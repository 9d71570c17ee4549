package verdict

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vise-edge/vise/infer"
)

var classes = []string{"scratch", "dent"}

func det(class string, conf, w, h float64) infer.Detection {
	return infer.Detection{Class: class, Confidence: conf, Box: infer.Box{Width: w, Height: h}}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name   string
		rules  string
		dets   []infer.Detection
		err    string
		reject bool
	}{
		{"no rules, nothing found", ``, nil, "", false},
		{"no rules, anything found", ``, []infer.Detection{det("dent", 0.3, 1, 1)}, "", true},
		{"class filter", `{"classes": ["scratch"]}`, []infer.Detection{det("dent", 0.9, 50, 50)}, "", false},
		{"confidence too low", `{"classes": ["scratch"], "min_confidence": 0.5}`, []infer.Detection{det("scratch", 0.49, 50, 50)}, "", false},
		{"confidence enough", `{"classes": ["scratch"], "min_confidence": 0.5}`, []infer.Detection{det("scratch", 0.5, 50, 50)}, "", true},
		{"box too small", `{"min_box_area": 400}`, []infer.Detection{det("scratch", 0.9, 19, 20)}, "", false},
		{"box large enough", `{"min_box_area": 400}`, []infer.Detection{det("scratch", 0.9, 20, 20)}, "", true},
		{"count short", `{"min_count": 2}`, []infer.Detection{det("scratch", 0.9, 20, 20)}, "", false},
		{"count met", `{"min_count": 2}`, []infer.Detection{det("scratch", 0.9, 20, 20), det("dent", 0.9, 20, 20)}, "", true},
		{"any of a list", `[{"classes": ["scratch"], "min_confidence": 0.9}, {"classes": ["dent"]}]`, []infer.Detection{det("dent", 0.3, 2, 2)}, "", true},
		{"unknown class", `{"classes": ["crack"]}`, nil, `class "crack" is not one the model detects (it has: scratch, dent)`, false},
		{"unknown field", `{"min_conf": 0.5}`, nil, `unknown field "min_conf"`, false},
		{"confidence out of range", `{"min_confidence": 50}`, nil, "min_confidence 50 is not between 0 and 1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(json.RawMessage(tc.rules), classes)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse: err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, reasons := r.Decide(&infer.Result{Detections: tc.dets})
			if got != tc.reject || (got && len(reasons) == 0) {
				t.Errorf("Decide = %v %q, want reject %v with reasons", got, reasons, tc.reject)
			}
		})
	}
}

func TestUninspectedFrameIsRejected(t *testing.T) {
	reject, reasons := Rules{}.Decide(&infer.Result{Error: "not a usable image"})
	if !reject || len(reasons) != 1 || !strings.Contains(reasons[0], "not inspected") {
		t.Errorf("Decide = %v %q, want a reject saying the frame was not inspected", reject, reasons)
	}
}
