package sendback

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"window min above max", `{"uncertain":{"min":0.7,"max":0.3}}`, "send_back.uncertain.min 0.7 is above send_back.uncertain.max 0.3"},
		{"negative defect cap", `{"defects":{"per_hour":-1}}`, "send_back.defects.per_hour -1: must be between 0"},
		{"negative uncertain cap", `{"uncertain":{"min":0.2,"max":0.5,"per_hour":-5}}`, "send_back.uncertain.per_hour -5"},
		{"cap too large", `{"sample":{"rate":0.1,"per_hour":2000000}}`, "send_back.sample.per_hour 2000000"},
		{"unknown top field", `{"defect":{}}`, "send_back.defect: unknown field"},
		{"unknown nested field", `{"uncertain":{"mni":0.2,"max":0.5}}`, "send_back.uncertain.mni: unknown field"},
		{"rate above one", `{"sample":{"rate":1.5}}`, "send_back.sample.rate 1.5: must be between 0 and 1"},
		{"min below zero", `{"uncertain":{"min":-0.1,"max":0.5}}`, "send_back.uncertain.min -0.1"},
		{"wrong type", `{"sample":{"rate":"often"}}`, "send_back.sample.rate: wants a float64"},
		{"not an object", `[1]`, "send_back: wants a JSON object"},
		{"section not an object", `{"defects":3}`, "send_back.defects: wants a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse(%s) = %v; want an error containing %q", tt.json, err, tt.want)
			}
		})
	}
}

func TestParseGood(t *testing.T) {
	c, err := Parse([]byte(`{"defects":{"per_hour":100},"uncertain":{"min":0.25,"max":0.6,"per_hour":20},"sample":{"rate":0.01}}`))
	if err != nil {
		t.Fatal(err)
	}
	n100, n20 := 100, 20
	want := Config{Defects: &Defects{PerHour: &n100}, Uncertain: &Uncertain{Min: 0.25, Max: 0.6, PerHour: &n20}, Sample: &Sample{Rate: 0.01}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestLegacy(t *testing.T) {
	if _, err := Legacy("some", 0); err == nil || !strings.Contains(err.Error(), `upload "some": use defects, all or none`) {
		t.Errorf("Legacy(some) = %v; want the upload values named", err)
	}
	if _, err := Legacy("defects", 2); err == nil || !strings.Contains(err.Error(), "upload_sample 2") {
		t.Errorf("Legacy(defects, 2) = %v; want upload_sample named", err)
	}
	at := time.Unix(0, 0)
	for _, tt := range []struct {
		upload string
		confs  []float64
		want   Reason
	}{
		{"defects", []float64{0.9}, ReasonDefect},
		{"defects", nil, ""},
		{"all", nil, ReasonSample},
		{"all", []float64{0.3}, ReasonDefect},
		{"none", []float64{0.9}, ""},
	} {
		c, err := Legacy(tt.upload, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := New(c).Decide(at, tt.confs); got != tt.want {
			t.Errorf("upload %s, confidences %v: %q; want %q", tt.upload, tt.confs, got, tt.want)
		}
	}
}

// TestPolicyCapsAndCounts sends a stream through a policy with small caps
// and checks each frame's fate and the counts.
func TestPolicyCapsAndCounts(t *testing.T) {
	c, err := Parse([]byte(`{"defects":{"per_hour":2},"uncertain":{"min":0.25,"max":0.6,"per_hour":1},"sample":{"rate":0.5,"per_hour":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	p := New(c)
	draws := []float64{0.9, 0.1, 0.2} // not drawn, drawn, drawn (over cap)
	p.rand = func() float64 { d := draws[0]; draws = draws[1:]; return d }
	t0 := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	steps := []struct {
		at    time.Duration
		confs []float64
		want  Reason
	}{
		{0, []float64{0.4}, ReasonUncertain},
		{time.Minute, []float64{0.3, 0.9}, ReasonDefect}, // uncertain cap spent: goes as a defect
		{2 * time.Minute, []float64{0.95}, ReasonDefect},
		{3 * time.Minute, []float64{0.99}, ""}, // defect cap spent
		{4 * time.Minute, nil, ""},             // not drawn
		{5 * time.Minute, nil, ReasonSample},
		{6 * time.Minute, nil, ""},                          // drawn, over cap
		{61 * time.Minute, []float64{0.5}, ReasonUncertain}, // an hour after the first
	}
	for i, s := range steps {
		if got := p.Decide(t0.Add(s.at), s.confs); got != s.want {
			t.Errorf("frame %d (%v): %q; want %q", i, s.confs, got, s.want)
		}
	}
	want := Counts{Defect: Count{Kept: 2, OverCap: 1}, Uncertain: Count{Kept: 2}, Sample: Count{Kept: 1, OverCap: 1}, NotSampled: 1}
	if diff := cmp.Diff(want, p.Counts()); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
}

// TestSetKeepsBudget checks a reload does not hand out a fresh hour.
func TestSetKeepsBudget(t *testing.T) {
	c, _ := Parse([]byte(`{"defects":{"per_hour":1}}`))
	p := New(c)
	t0 := time.Unix(1000, 0)
	if p.Decide(t0, []float64{0.9}) != ReasonDefect {
		t.Fatal("first defect not sent")
	}
	c2, _ := Parse([]byte(`{"defects":{"per_hour":1},"sample":{"rate":0.1}}`))
	p.Set(c2)
	if got := p.Decide(t0.Add(time.Minute), []float64{0.9}); got != "" {
		t.Errorf("after reload: %q; want the hour's budget still spent", got)
	}
	if got := p.Counts().Defect; got != (Count{Kept: 1, OverCap: 1}) {
		t.Errorf("counts after reload %+v; want kept 1, over cap 1", got)
	}
}
