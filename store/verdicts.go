package store

import (
	"context"
	"encoding/json"

	"github.com/vise-edge/vise"
)

// InsertVerdict stores a verdict unless the device already sent one with
// the same message id; inserted tells which.
func (s *Store) InsertVerdict(ctx context.Context, v vise.Verdict) (inserted bool, err error) {
	reject := 0
	if v.Reject {
		reject = 1
	}
	err = s.write(ctx, "store verdict", func(t *tx) error {
		res, err := t.exec(`INSERT INTO verdicts (msg_id, device, component, result_id, part_id, reject, payload, received_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device, msg_id) DO NOTHING`,
			v.MsgID, v.Device, v.Component, v.ResultID, v.PartID, reject, string(v.Payload), micros(s.clock()))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		inserted = n == 1
		return nil
	})
	return inserted, err
}

// ListVerdicts returns a device's verdicts newest first, only those of
// one result if resultID is set, at most limit.
func (s *Store) ListVerdicts(ctx context.Context, device, resultID string, limit int) ([]vise.Verdict, error) {
	limit = listLimit(limit, vise.DefaultListLimit)
	return list(ctx, s, "list verdicts", scanVerdict, `SELECT msg_id, device, component, result_id, part_id, reject, payload, received_at
		FROM verdicts WHERE device = ? AND (? = '' OR result_id = ?) ORDER BY received_at DESC, msg_id DESC LIMIT ?`,
		device, resultID, resultID, limit)
}

func scanVerdict(row scanner) (v vise.Verdict, err error) {
	var payload string
	var at int64
	var reject int
	err = row.Scan(&v.MsgID, &v.Device, &v.Component, &v.ResultID, &v.PartID, &reject, &payload, &at)
	v.Reject, v.Payload, v.ReceivedAt = reject == 1, json.RawMessage(payload), fromMicros(at)
	return v, err
}
