package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/verdict"
)

// MaxVerdictBytes bounds one verdict message.
const MaxVerdictBytes = 64 << 10

// ParseVerdict checks a verdict published by device: size, UTF-8, JSON,
// depth, its ids and the device it names.
func ParseVerdict(device string, payload []byte) (*verdict.Verdict, error) {
	if err := checkJSON(payload, MaxVerdictBytes); err != nil {
		return nil, err
	}
	var v verdict.Verdict
	if err := json.Unmarshal(payload, &v); err != nil {
		return nil, refuse("json", "not a verdict object: %v", err)
	}
	if err := checkMsgID(v.MsgID); err != nil {
		return nil, err
	}
	if v.ResultID != "" {
		if err := checkMsgID(v.ResultID); err != nil {
			return nil, refuse("result_id", "result_id is not printable ASCII of at most %d bytes", MaxMsgID)
		}
	}
	if len(v.PartID) > MaxMsgID {
		return nil, refuse("part_id", "part_id is %d bytes, more than %d", len(v.PartID), MaxMsgID)
	}
	if v.Device != "" && v.Device != device {
		return nil, refuse("device", "names device %q but came from %q", v.Device, device)
	}
	return &v, nil
}

// Verdict stores a device's verdict, once, next to its results.
func (in *Ingester) Verdict(topic string, payload []byte) error {
	device, component, ok := VerdictTopic(topic)
	if !ok {
		in.refused("verdict", "topic", "topic", topic)
		return nil
	}
	v, err := ParseVerdict(device, payload)
	var ref *Refusal
	if errors.As(err, &ref) {
		in.refused("verdict", ref.Rule, "device", device, "component", component, "bytes", len(payload), "why", ref.Detail)
		return nil
	}
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
	return componentTopic(topic, "verdicts")
}
