package deviceapi

import "strings"

// The MQTT topics: every device message lives under its device's subtree
// vise/devices/<device>/, which the broker's ACL lets only that device
// touch.
const (
	topicRoot = "vise/devices/"

	// Filters the server subscribes to.
	StatusFilter  = topicRoot + "+/status"
	ResultFilter  = topicRoot + "+/inference/+"
	VerdictFilter = topicRoot + "+/verdicts/+"
)

// DeviceTopic is the root of a device's subtree.
func DeviceTopic(device string) string { return topicRoot + device }

// DeploymentsTopic is where the server announces "a deployment is waiting".
func DeploymentsTopic(device string) string { return DeviceTopic(device) + "/deployments" }

// StatusTopic is where a device reports its Status.
func StatusTopic(device string) string { return DeviceTopic(device) + "/status" }

// ResultTopic is where a device forwards a component's Results.
func ResultTopic(device, component string) string {
	return DeviceTopic(device) + "/inference/" + component
}

// VerdictTopic is where a device forwards a component's Verdicts.
func VerdictTopic(device, component string) string {
	return DeviceTopic(device) + "/verdicts/" + component
}

// ParseStatusTopic splits vise/devices/<device>/status.
func ParseStatusTopic(topic string) (device string, ok bool) {
	parts := strings.Split(topic, "/")
	if len(parts) != 4 || parts[0] != "vise" || parts[1] != "devices" || parts[3] != "status" || parts[2] == "" {
		return "", false
	}
	return parts[2], true
}

// ParseResultTopic splits vise/devices/<device>/inference/<component>.
func ParseResultTopic(topic string) (device, component string, ok bool) {
	return componentTopic(topic, "inference")
}

// ParseVerdictTopic splits vise/devices/<device>/verdicts/<component>.
func ParseVerdictTopic(topic string) (device, component string, ok bool) {
	return componentTopic(topic, "verdicts")
}

// TopicDevice is the device whose subtree topic is in ("" if none).
func TopicDevice(topic string) string {
	rest, ok := strings.CutPrefix(topic, topicRoot)
	if !ok {
		return ""
	}
	device, _, _ := strings.Cut(rest, "/")
	return device
}

func componentTopic(topic, kind string) (device, component string, ok bool) {
	parts := strings.Split(topic, "/")
	if len(parts) != 5 || parts[0] != "vise" || parts[1] != "devices" || parts[3] != kind || parts[2] == "" || parts[4] == "" {
		return "", "", false
	}
	return parts[2], parts[4], true
}

// Topics on a device's local IPC endpoint (package localipc): a component
// publishes on its own results/, verdicts/ and status/ topics and reads
// its trigger/ topic.

// IPCResultTopic is where a component publishes its Results.
func IPCResultTopic(component string) string { return "results/" + component }

// IPCVerdictTopic is where a component publishes its Verdicts.
func IPCVerdictTopic(component string) string { return "verdicts/" + component }

// IPCStatusTopic is where a component reports its ComponentHealth.
func IPCStatusTopic(component string) string { return "status/" + component }

// IPCTriggerTopic is where a component is asked for a frame (Trigger).
func IPCTriggerTopic(component string) string { return "trigger/" + component }

// Trigger asks a component for one frame (IPCTriggerTopic), for the part
// PartID names.
type Trigger struct {
	PartID string `json:"part_id"`
}
