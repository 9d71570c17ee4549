package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/deviceapi"
	"github.com/vise-edge/vise/verdict"
)

// MaxVerdictBytes bounds one verdict message.
const MaxVerdictBytes = deviceapi.MaxVerdictBytes

// ParseVerdict checks a verdict published by device: size, UTF-8, JSON,
// depth, its ids and the device it names.
func ParseVerdict(device string, payload []byte) (*verdict.Verdict, error) {
	v, _, err := parseVerdict(device, payload)
	return v, err
}

// parseVerdict is ParseVerdict that also says what it did not understand.
func parseVerdict(device string, payload []byte) (*verdict.Verdict, deviceapi.Info, error) {
	v, info, err := checkVerdict(device, payload)
	info.Newer = err == nil && v.Schema > deviceapi.VerdictSchema
	return v, info, err
}

func checkVerdict(device string, payload []byte) (*verdict.Verdict, deviceapi.Info, error) {
	var none deviceapi.Info
	if err := checkJSON(payload, MaxVerdictBytes); err != nil {
		return nil, none, err
	}
	var v verdict.Verdict
	info, err := deviceapi.Decode(payload, &v)
	if err != nil {
		return nil, none, refuse("json", "not a verdict object: %v", err)
	}
	if err := checkMsgID(v.MsgID); err != nil {
		return nil, none, err
	}
	if v.ResultID != "" {
		if err := checkMsgID(v.ResultID); err != nil {
			return nil, none, refuse("result_id", "result_id is not printable ASCII of at most %d bytes", MaxMsgID)
		}
	}
	if len(v.PartID) > MaxMsgID {
		return nil, none, refuse("part_id", "part_id is %d bytes, more than %d", len(v.PartID), MaxMsgID)
	}
	if v.Device != "" && v.Device != device {
		return nil, none, refuse("device", "names device %q but came from %q", v.Device, device)
	}
	return &v, info, nil
}

// Verdict stores a device's verdict, once, next to its results.
func (in *Ingester) Verdict(topic string, payload []byte) error {
	device, component, ok := VerdictTopic(topic)
	if !ok {
		in.refused("verdict", "topic", "topic", topic)
		return nil
	}
	v, info, err := parseVerdict(device, payload)
	var ref *Refusal
	if errors.As(err, &ref) {
		in.refused("verdict", ref.Rule, "device", device, "component", component, "bytes", len(payload), "why", ref.Detail)
		return nil
	}
	in.compat.note(in, "verdict", device, info)
	ctx, cancel := context.WithTimeout(in.ctx, in.timeout)
	defer cancel()
	_, err = in.store.InsertVerdict(ctx, vise.Verdict{MsgID: v.MsgID, Device: device, Component: component, ResultID: v.ResultID,
		PartID: v.PartID, Reject: v.Reject, Payload: compact(payload)})
	if err != nil {
		in.log.Warn("verdict not stored; the device keeps it and sends it again", "device", device, "msg_id", v.MsgID, "err", err)
		return fmt.Errorf("store verdict %s of %s: %w", v.MsgID, device, err)
	}
	return nil
}

// VerdictTopic splits vise/devices/<device>/verdicts/<component>.
func VerdictTopic(topic string) (device, component string, ok bool) {
	return deviceapi.ParseVerdictTopic(topic)
}
