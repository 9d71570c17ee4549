package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/vise-edge/vise"
)

// InsertResult stores a result unless the device already sent one with the
// same message id; inserted tells which. Devices resend after a bad link; this is what makes
// ingestion exactly-once.
func (s *Store) InsertResult(ctx context.Context, r vise.Result) (inserted bool, err error) {
	err = s.write(ctx, "store result", func(t *tx) error {
		res, err := t.exec(`INSERT INTO results (msg_id, device, component, defects, payload, received_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (device, msg_id) DO NOTHING`, r.MsgID, r.Device, r.Component, r.Defects, string(r.Payload), micros(s.clock()))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		inserted = n == 1
		return nil
	})
	return inserted, err
}

// ListResults returns results newest first, optionally for one device and
// only after since, at most limit (default vise.DefaultListLimit, at most
// vise.MaxListLimit).
func (s *Store) ListResults(ctx context.Context, device string, since time.Time, limit int) ([]vise.Result, error) {
	return s.ListResultsBefore(ctx, device, since, time.Time{}, limit)
}

// ListResultsBefore is ListResults for a page: only results received
// before `before` (zero: no bound). Pass the oldest ReceivedAt of one page
// to get the next.
func (s *Store) ListResultsBefore(ctx context.Context, device string, since, before time.Time, limit int) ([]vise.Result, error) {
	limit = listLimit(limit, vise.DefaultListLimit)
	return list(ctx, s, "list results", scanResult, `SELECT msg_id, device, component, defects, payload, received_at FROM results
		WHERE (? = '' OR device = ?) AND received_at >= ? AND (CAST(? AS BIGINT) = 0 OR received_at < ?) ORDER BY received_at DESC, msg_id DESC LIMIT ?`,
		device, device, micros(since), beforeMicros(before), beforeMicros(before), limit)
}

// GetResult returns one result by its device and message id.
func (s *Store) GetResult(ctx context.Context, device, msgID string) (*vise.Result, error) {
	rs, err := list(ctx, s, "get result", scanResult, `SELECT msg_id, device, component, defects, payload, received_at FROM results
		WHERE device = ? AND msg_id = ?`, device, msgID)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, vise.Errorf(vise.CodeNotFound, "result %s of device %s not found", msgID, device)
	}
	return &rs[0], nil
}

func scanResult(row scanner) (r vise.Result, err error) {
	var payload string
	var at int64
	err = row.Scan(&r.MsgID, &r.Device, &r.Component, &r.Defects, &payload, &at)
	r.Payload, r.ReceivedAt = json.RawMessage(payload), fromMicros(at)
	return r, err
}

// PruneResults deletes results received before cutoff and returns how many.
func (s *Store) PruneResults(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, "prune results", func(t *tx) error {
		res, err := t.exec(`DELETE FROM results WHERE received_at < ?`, micros(cutoff))
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// listLimit is limit, or def if it is not positive, and never more than
// vise.MaxListLimit. The API refuses out-of-range limits before they get here.
func listLimit(limit, def int) int {
	if limit <= 0 {
		return def
	}
	return min(limit, vise.MaxListLimit)
}

func beforeMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}
