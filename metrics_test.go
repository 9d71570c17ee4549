package vise

import (
	"math"
	"strings"
	"testing"
)

func TestValidateMetricsRefusesNonFinite(t *testing.T) {
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		err := ValidateMetrics(map[string]float64{"map50": v})
		if ErrorCode(err) != CodeInvalid || !strings.Contains(err.Error(), "must be a finite number") {
			t.Errorf("metric map50=%v: %v, want invalid", v, err)
		}
	}
	if err := ValidateMetrics(map[string]float64{"map50": 0.62, "loss": -1e300}); err != nil {
		t.Errorf("finite metrics refused: %v", err)
	}
}
