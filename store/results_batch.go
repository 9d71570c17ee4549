package store

import (
	"context"

	"github.com/vise-edge/vise"
)

type resultKey struct{ device, msgID string }

// InsertResults stores a batch of results in one transaction, each unless
// its device already sent one with the same message id, before or earlier
// in the batch; inserted[i] tells whether rs[i] was stored. On error
// nothing was stored: one commit answers for the whole batch, which is
// what lets ingestion acknowledge thousands of results a second.
func (s *Store) InsertResults(ctx context.Context, rs []vise.Result) (inserted []bool, err error) {
	inserted = make([]bool, len(rs))
	first := make(map[resultKey]int, len(rs))
	fresh := make([]int, 0, len(rs)) // the first of each key, in order
	for i, r := range rs {
		k := resultKey{r.Device, r.MsgID}
		if _, seen := first[k]; !seen {
			first[k] = i
			fresh = append(fresh, i)
		}
	}
	at := s.receivedAt(len(fresh))
	err = s.write(ctx, "store results", func(t *tx) error {
		stored := func(k resultKey) { inserted[first[k]] = true }
		if s.engine == SQLite {
			return t.insertResultsEach(rs, fresh, at, stored)
		}
		return t.insertResultsArrays(rs, fresh, at, stored)
	})
	if err != nil {
		return nil, err
	}
	return inserted, nil
}

// insertResultsArrays is insertResults for PostgreSQL: one statement
// whatever the batch size, its rows passed as one array a column, so the
// server plans it once per connection and a batch is one round trip.
func (t *tx) insertResultsArrays(rs []vise.Result, rows []int, at int64, stored func(resultKey)) error {
	n := len(rows)
	ids, devices, components, payloads := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	defects, times := make([]int64, n), make([]int64, n)
	models, tops := make([]string, n), make([]*float64, n)
	for j, i := range rows {
		r := rs[i]
		ids[j], devices[j], components[j], defects[j], payloads[j], times[j] = r.MsgID, r.Device, r.Component, int64(r.Defects), string(r.Payload), at+int64(j)
		models[j], tops[j] = r.ModelSHA256, r.TopConfidence
	}
	q, err := t.tx.QueryContext(t.ctx, `INSERT INTO results (msg_id, device, component, defects, payload, received_at, model_sha256, top_confidence)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[], $7::text[], $8::float8[])
		ON CONFLICT (device, msg_id) DO NOTHING RETURNING device, msg_id`, ids, devices, components, defects, payloads, times, models, tops)
	if err != nil {
		return err
	}
	defer q.Close()
	for q.Next() {
		var k resultKey
		if err := q.Scan(&k.device, &k.msgID); err != nil {
			return err
		}
		stored(k)
	}
	return q.Err()
}

// insertResultsEach is insertResults one row at a time through one
// prepared statement: SQLite runs in process, so a row costs no round trip,
// and the statement is parsed once instead of once per batch.
func (t *tx) insertResultsEach(rs []vise.Result, rows []int, at int64, stored func(resultKey)) error {
	stmt, err := t.tx.PrepareContext(t.ctx, `INSERT INTO results (msg_id, device, component, defects, payload, received_at, model_sha256, top_confidence)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device, msg_id) DO NOTHING`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	// The rows are executed without the transaction's deadline: with one,
	// the driver starts a goroutine per statement to watch it and sets a
	// progress handler, for a statement that takes microseconds. The
	// deadline still bounds BEGIN, the wait for the lock and COMMIT.
	rowCtx := context.WithoutCancel(t.ctx)
	for n, i := range rows {
		r := rs[i]
		res, err := stmt.ExecContext(rowCtx, r.MsgID, r.Device, r.Component, r.Defects, string(r.Payload), at+int64(n), r.ModelSHA256, r.TopConfidence)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 1 {
			stored(resultKey{r.Device, r.MsgID})
		}
	}
	return nil
}

// receivedAt reserves n consecutive microsecond timestamps, the first no
// earlier than now and all later than any handed out before.
func (s *Store) receivedAt(n int) int64 {
	now := micros(s.clock())
	s.mu.Lock()
	defer s.mu.Unlock()
	at := max(now, s.lastReceived+1)
	s.lastReceived = at + int64(n) - 1
	return at
}
