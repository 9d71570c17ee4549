package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/vise-edge/vise"
)

// Status is what an agent publishes on vise/devices/<device>/status.
type Status struct {
	Generation int64           `json:"generation"`
	Deployment string          `json:"deployment,omitempty"`
	State      string          `json:"state,omitempty"` // the device's state for that deployment
	Message    string          `json:"message,omitempty"`
	Components json.RawMessage `json:"components,omitempty"`
	Telemetry  json.RawMessage `json:"telemetry,omitempty"`
}

// deviceStates are the deployment states a device may report.
var deviceStates = map[string]bool{vise.DeviceDownloading: true, vise.DeviceInstalling: true, vise.DeviceRunning: true,
	vise.DeviceFailed: true, vise.DeviceRolledBack: true, vise.DeviceSuperseded: true}

// ParseStatus checks a status report: size, UTF-8, JSON, depth, types and
// the state it reports.
func ParseStatus(payload []byte) (*Status, error) {
	if err := checkJSON(payload, MaxStatusBytes); err != nil {
		return nil, err
	}
	var st Status
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, refuse("json", "not a status object: %v", err)
	}
	if st.Generation < 0 {
		return nil, refuse("generation", "generation %d is negative", st.Generation)
	}
	if st.State != "" && !deviceStates[st.State] {
		return nil, refuse("state", "%q is not a state a device reports", st.State)
	}
	if st.Deployment != "" {
		if err := checkMsgID(st.Deployment); err != nil {
			return nil, refuse("deployment", "deployment id is not printable ASCII of at most %d bytes", MaxMsgID)
		}
	}
	return &st, nil
}

// Status records a device's report: its generation and components, and its
// progress on a deployment it is a target of. A report on a deployment the
// device is not part of changes nothing and is counted.
func (in *Ingester) Status(topic string, payload []byte) error {
	device, ok := StatusTopic(topic)
	if !ok {
		in.refused("status", "topic", "topic", topic)
		return nil
	}
	st, err := ParseStatus(payload)
	var ref *Refusal
	if errors.As(err, &ref) {
		in.refused("status", ref.Rule, "device", device, "bytes", len(payload), "why", ref.Detail)
		return nil
	}
	ctx, cancel := context.WithTimeout(in.ctx, in.timeout)
	defer cancel()
	if err := in.store.SetDeviceStatus(ctx, device, compact(payload), st.Generation); err != nil {
		if vise.ErrorCode(err) == vise.CodeNotFound {
			in.refused("status", "unknown_device", "device", device)
			return nil
		}
		return fmt.Errorf("record status of %s: %w", device, err)
	}
	if st.Deployment == "" || st.State == "" {
		return nil
	}
	err = in.store.SetDeviceState(ctx, st.Deployment, device, st.State, st.Message)
	switch {
	case vise.ErrorCode(err) == vise.CodeNotFound:
		in.refused("status", "not_a_target", "device", device, "deployment", st.Deployment)
		return nil
	case err != nil:
		return fmt.Errorf("record progress of %s on %s: %w", device, st.Deployment, err)
	}
	in.m.status.WithLabelValues("stored").Inc()
	if in.wake != nil {
		in.wake(ctx, st.Deployment)
	}
	return nil
}

// ResultTopic splits vise/devices/<device>/inference/<component>.
func ResultTopic(topic string) (device, component string, ok bool) {
	return componentTopic(topic, "inference")
}

// componentTopic splits vise/devices/<device>/<kind>/<component>.
func componentTopic(topic, kind string) (device, component string, ok bool) {
	parts := strings.Split(topic, "/")
	if len(parts) != 5 || parts[0] != "vise" || parts[1] != "devices" || parts[3] != kind || parts[2] == "" || parts[4] == "" {
		return "", "", false
	}
	return parts[2], parts[4], true
}

// StatusTopic splits vise/devices/<device>/status.
func StatusTopic(topic string) (device string, ok bool) {
	parts := strings.Split(topic, "/")
	if len(parts) != 4 || parts[0] != "vise" || parts[1] != "devices" || parts[3] != "status" || parts[2] == "" {
		return "", false
	}
	return parts[2], true
}
