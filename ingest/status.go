package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/store"
)

// Status is what an agent publishes on vise/devices/<device>/status.
type Status = deviceapi.Status

// deviceStates are the deployment states a device may report.
var deviceStates = map[vise.DeviceState]bool{vise.DeviceDownloading: true, vise.DeviceInstalling: true, vise.DeviceRunning: true,
	vise.DeviceFailed: true, vise.DeviceRolledBack: true, vise.DeviceSuperseded: true}

// ParseStatus checks a status report: size, UTF-8, JSON, depth, types and
// the state it reports.
func ParseStatus(payload []byte) (*Status, error) {
	st, _, err := parseStatus(payload)
	return st, err
}

// parseStatus is ParseStatus that also says what it did not understand.
func parseStatus(payload []byte) (*Status, deviceapi.Info, error) {
	st, info, err := checkStatus(payload)
	info.Newer = err == nil && st.Schema > deviceapi.StatusSchema
	return st, info, err
}

func checkStatus(payload []byte) (*Status, deviceapi.Info, error) {
	var none deviceapi.Info
	if err := checkJSON(payload, MaxStatusBytes); err != nil {
		return nil, none, err
	}
	var st Status
	info, err := deviceapi.Decode(payload, &st)
	if err != nil {
		return nil, none, refuse("json", "not a status object: %v", err)
	}
	if st.Generation < 0 {
		return nil, none, refuse("generation", "generation %d is negative", st.Generation)
	}
	if st.State != "" && !deviceStates[st.State] {
		return nil, none, refuse("state", "%q is not a state a device reports", st.State)
	}
	if st.Deployment != "" {
		if err := checkMsgID(st.Deployment); err != nil {
			return nil, none, refuse("deployment", "deployment id is not printable ASCII of at most %d bytes", MaxMsgID)
		}
	}
	return &st, info, nil
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
	st, info, err := parseStatus(payload)
	var ref *Refusal
	if errors.As(err, &ref) {
		in.refused("status", ref.Rule, "device", device, "bytes", len(payload), "why", ref.Detail)
		return nil
	}
	in.compat.note(in, "status", device, info)
	r := store.StatusReport{Device: device, Status: compact(payload), Generation: st.Generation}
	if st.Deployment != "" && st.State != "" {
		r.Deployment, r.State, r.Message = st.Deployment, st.State, st.Message
	}
	ctx, cancel := context.WithTimeout(in.ctx, in.timeout)
	defer cancel()
	err = in.recordStatus(ctx, r)
	switch {
	case vise.ErrorCode(err) == vise.CodeNotFound:
		in.refused("status", "not_a_target", "device", device, "deployment", st.Deployment)
		return nil
	case err != nil:
		return fmt.Errorf("record status of %s: %w", device, err)
	case r.Deployment == "":
		return nil
	}
	in.m.status.WithLabelValues("stored").Inc()
	if in.wake != nil {
		in.wake(ctx, st.Deployment)
	}
	return nil
}

// ResultTopic splits vise/devices/<device>/inference/<component>.
func ResultTopic(topic string) (device, component string, ok bool) {
	return deviceapi.ParseResultTopic(topic)
}

// StatusTopic splits vise/devices/<device>/status.
func StatusTopic(topic string) (device string, ok bool) {
	return deviceapi.ParseStatusTopic(topic)
}
