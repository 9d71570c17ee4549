package registry

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/vise-edge/vise"
)

// Rule is one condition of the quality gate, e.g. map50 >= 0.6.
type Rule struct {
	Metric string
	Op     string // ">=", ">", "<=", "<"
	Value  float64
}

func (r Rule) String() string { return fmt.Sprintf("%s %s %g", r.Metric, r.Op, r.Value) }

var ruleRE = regexp.MustCompile(`^\s*([A-Za-z][A-Za-z0-9_.:-]*)\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*$`)

// ParseGate reads rules separated by commas: "map50>=0.6, map50_95>=0.4".
func ParseGate(s string) ([]Rule, error) {
	var out []Rule
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		m := ruleRE.FindStringSubmatch(part)
		if m == nil {
			return nil, vise.Errorf(vise.CodeInvalid, "gate rule %q: write METRIC>=NUMBER (or >, <=, <)", strings.TrimSpace(part))
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, vise.Errorf(vise.CodeInvalid, "gate rule %q: %w", strings.TrimSpace(part), err)
		}
		out = append(out, Rule{Metric: m[1], Op: m[2], Value: v})
	}
	return out, nil
}

// check returns "" when the metrics pass every rule, else why not.
func check(rules []Rule, metrics map[string]float64) string {
	var fails []string
	for _, r := range rules {
		v, ok := metrics[r.Metric]
		if !ok {
			fails = append(fails, fmt.Sprintf("metric %s is missing", r.Metric))
			continue
		}
		pass := map[string]bool{">=": v >= r.Value, ">": v > r.Value, "<=": v <= r.Value, "<": v < r.Value}[r.Op]
		if !pass {
			fails = append(fails, fmt.Sprintf("%s is %g, the gate wants %s", r.Metric, v, r))
		}
	}
	if len(fails) == 0 {
		return ""
	}
	return "quality gate: " + strings.Join(fails, "; ")
}

func gateText(rules []Rule) string {
	parts := make([]string, len(rules))
	for i, r := range rules {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}
