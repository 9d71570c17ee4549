package vise

import "strings"

// ParseTarget reads a target in its one spelling, group:NAME or
// device:NAME. The old spelling with a slash (group/NAME), once taken by
// deployment lists, is still read; old tells the caller to warn that it
// goes away.
func ParseTarget(s string) (t Target, old bool, err error) {
	kind, name, ok := strings.Cut(s, ":")
	if !ok {
		kind, name, ok = strings.Cut(s, "/")
		old = ok
	}
	if !ok || name == "" || (kind != TargetGroup && kind != TargetDevice) || strings.ContainsAny(name, ":/") {
		return Target{}, false, Errorf(CodeInvalid, "target %q: write group:NAME or device:NAME", s)
	}
	return Target{Kind: kind, Name: name}, old, nil
}

// TargetDeprecation is the warning for a target read in the old spelling.
func TargetDeprecation(s string, t Target) string {
	return "target " + s + " is written the old way and will stop working: write " + t.String()
}
