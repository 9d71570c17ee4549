package broker

import "strings"

// Matches applies MQTT topic-filter rules: '+' matches one level, '#' (last)
// the level it stands for and every level below, including none, so
// "a/#" matches "a" [MQTT-4.7.1-2]; wildcards at the first level do not
// match topics beginning with '$' [MQTT-4.7.2-1].
func Matches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, part := range f {
		if part == "#" {
			return i == len(f)-1
		}
		if i >= len(t) || (part != "+" && part != t[i]) {
			return false
		}
	}
	return len(f) == len(t)
}

// matchingSubs is the subscriptions among subs whose filter matches topic.
func matchingSubs(subs []Subscription, topic string) []Subscription {
	var out []Subscription
	for _, s := range subs {
		if Matches(s.Filter, topic) {
			out = append(out, s)
		}
	}
	return out
}
