package broker

import (
	"strings"
	"testing"
)

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"vise/devices/+/status", "vise/devices/cam-1/status", true},
		{"vise/devices/+/status", "vise/devices/cam-1/status/x", false},
		{"vise/devices/+/status", "vise/devices/status", false},
		{"vise/devices/+/inference/+", "vise/devices/cam-1/inference/vise.inspect", true},
		{"vise/devices/+/inference/+", "vise/devices/cam-1/inference", false},
		{"vise/devices/+/inference/+", "vise/devices/cam-1/status", false},
		{"sport/#", "sport", true}, // '#' includes the parent level
		{"sport/#", "sport/tennis/player1", true},
		{"sport/#", "sports", false},
		{"#", "a/b", true},
		{"+/+", "/finance", true}, // empty levels are levels
		{"+", "/finance", false},
		{"a/#/b", "a/x/b", false}, // '#' only last
		{"+/status", "$SYS/status", false},
		{"#", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
	} {
		if got := Matches(tc.filter, tc.topic); got != tc.want {
			t.Errorf("Matches(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

// FuzzMatches checks the matcher against the definition: a filter without
// wildcards matches only itself, and replacing any one level of a topic
// with '+' still matches it.
func FuzzMatches(f *testing.F) {
	f.Add("vise/devices/cam-1/status", 2)
	f.Add("a//b", 1)
	f.Fuzz(func(t *testing.T, topic string, level int) {
		if strings.ContainsAny(topic, "+#") || strings.HasPrefix(topic, "$") {
			return
		}
		if !Matches(topic, topic) {
			t.Fatalf("%q does not match itself", topic)
		}
		if Matches(topic+"/x", topic) || Matches(topic, topic+"/x") {
			t.Fatalf("%q matches a topic one level longer or shorter", topic)
		}
		parts := strings.Split(topic, "/")
		level = int(uint(level) % uint(len(parts)))
		orig := parts[level]
		parts[level] = "+"
		if !Matches(strings.Join(parts, "/"), topic) {
			t.Fatalf("%q with level %d as '+' does not match", topic, level)
		}
		parts[level] = orig
		if !Matches(strings.Join(parts[:level], "/")+"/#", topic) && level > 0 {
			t.Fatalf("%q: prefix of %d levels + '#' does not match", topic, level)
		}
	})
}
