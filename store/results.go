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
	ok, err := s.InsertResults(ctx, []vise.Result{r})
	if err != nil {
		return false, err
	}
	return ok[0], nil
}

// ListResults returns results newest first, optionally for one device and
// only after since, at most limit (default vise.DefaultListLimit, at most
// vise.MaxListLimit) and at most vise.MaxResultsPageBytes of payload.
func (s *Store) ListResults(ctx context.Context, device string, since time.Time, limit int) ([]vise.Result, error) {
	rs, _, err := s.ListResultsBefore(ctx, device, since, time.Time{}, limit)
	return rs, err
}

// ListResultsBefore is ListResults for a page: only results received
// before `before` (zero: no bound). more tells that the page ended at its
// limit or its byte budget; pass its oldest ReceivedAt as before to get the
// next.
func (s *Store) ListResultsBefore(ctx context.Context, device string, since, before time.Time, limit int) (rs []vise.Result, more bool, err error) {
	limit = listLimit(limit, vise.DefaultListLimit)
	rows, err := s.query(ctx, `SELECT msg_id, device, component, defects, payload, received_at FROM results
		WHERE (? = '' OR device = ?) AND received_at >= ? AND (CAST(? AS BIGINT) = 0 OR received_at < ?) ORDER BY received_at DESC, msg_id DESC LIMIT ?`,
		device, device, micros(since), beforeMicros(before), beforeMicros(before), limit)
	if err != nil {
		return nil, false, s.classify("list results", err)
	}
	defer rows.Close()
	rs, size := []vise.Result{}, 0
	for size < vise.MaxResultsPageBytes && rows.Next() {
		r, err := scanResult(rows)
		if err != nil {
			return nil, false, s.classify("list results", err)
		}
		rs, size = append(rs, r), size+len(r.Payload)
	}
	more = len(rs) == limit || size >= vise.MaxResultsPageBytes
	return rs, more, s.classifyRows("list results", rows.Err())
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
