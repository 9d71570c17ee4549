package quality

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseMargin reads "defect_rate=0.15,top_confidence=0.1,uncertain=0.15";
// a measure left out keeps its default, 0 leaves it unwatched.
func ParseMargin(s string) (*Margin, error) {
	m := DefaultMargin
	if strings.TrimSpace(s) == "" {
		return &m, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		x, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || x < 0 || x > 1 {
			return nil, fmt.Errorf("quality margin %q: write MEASURE=VALUE with a value from 0 to 1, e.g. defect_rate=0.15", part)
		}
		switch k {
		case "defect_rate":
			m.DefectRate = x
		case "top_confidence":
			m.TopConfidence = x
		case "uncertain":
			m.Uncertain = x
		default:
			return nil, fmt.Errorf("quality margin %q: unknown measure %q; use defect_rate, top_confidence or uncertain", part, k)
		}
	}
	return &m, nil
}
