package sendback

import (
	"testing"
	"time"
)

// FuzzParse: any send_back section is either refused or makes a policy
// that decides without panicking and never sends more than a cap allows.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"defects":{"per_hour":2},"uncertain":{"min":0.25,"max":0.6,"per_hour":1},"sample":{"rate":0.5}}`))
	f.Add([]byte(`{"uncertain":{"min":0.7,"max":0.3}}`))
	f.Add([]byte(`{"defects":null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := Parse(raw)
		if err != nil {
			return
		}
		if err := c.Check(); err != nil {
			t.Fatalf("Parse accepted %s but Check refuses it: %v", raw, err)
		}
		p := New(c)
		at := time.Unix(0, 0)
		for i := range 5 {
			p.Decide(at, []float64{float64(i) / 4})
		}
		if c.Defects != nil && c.Defects.PerHour != nil && p.Counts().Defect.Kept > int64(*c.Defects.PerHour) {
			t.Fatalf("%s: %d defects kept in one instant, cap %d", raw, p.Counts().Defect.Kept, *c.Defects.PerHour)
		}
	})
}
