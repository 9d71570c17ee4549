package store

import (
	"context"
	"strconv"
	"strings"

	"github.com/vise-edge/vise"
)

// resultsPerStatement bounds one INSERT's rows: 6 parameters a row stays
// far below SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const resultsPerStatement = 500

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
		if s.engine == SQLite {
			return t.insertResultsEach(rs, fresh, at, func(k resultKey) { inserted[first[k]] = true })
		}
		for start := 0; start < len(fresh); start += resultsPerStatement {
			chunk := fresh[start:min(start+resultsPerStatement, len(fresh))]
			if err := t.insertResults(rs, chunk, at+int64(start), func(k resultKey) { inserted[first[k]] = true }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return inserted, nil
}

// insertResults writes rs[i] for i in chunk, received at at, at+1, … µs,
// and calls stored for each row the database did not already hold.
func (t *tx) insertResults(rs []vise.Result, chunk []int, at int64, stored func(resultKey)) error {
	var q strings.Builder
	q.WriteString(`INSERT INTO results (msg_id, device, component, defects, payload, received_at) VALUES `)
	args := make([]any, 0, 6*len(chunk))
	for n, i := range chunk {
		if n > 0 {
			q.WriteByte(',')
		}
		q.WriteByte('(')
		for c := range 6 {
			if c > 0 {
				q.WriteByte(',')
			}
			t.s.param(&q, len(args)+c+1)
		}
		q.WriteByte(')')
		r := rs[i]
		args = append(args, r.MsgID, r.Device, r.Component, r.Defects, string(r.Payload), at+int64(n))
	}
	q.WriteString(` ON CONFLICT (device, msg_id) DO NOTHING RETURNING device, msg_id`)
	rows, err := t.tx.QueryContext(t.ctx, q.String(), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k resultKey
		if err := rows.Scan(&k.device, &k.msgID); err != nil {
			return err
		}
		stored(k)
	}
	return rows.Err()
}

// insertResultsEach is insertResults one row at a time through one
// prepared statement: SQLite runs in process, so a row costs no round trip,
// and the statement is parsed once instead of once per batch.
func (t *tx) insertResultsEach(rs []vise.Result, rows []int, at int64, stored func(resultKey)) error {
	stmt, err := t.tx.PrepareContext(t.ctx, `INSERT INTO results (msg_id, device, component, defects, payload, received_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (device, msg_id) DO NOTHING`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for n, i := range rows {
		r := rs[i]
		res, err := stmt.ExecContext(t.ctx, r.MsgID, r.Device, r.Component, r.Defects, string(r.Payload), at+int64(n))
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 1 {
			stored(resultKey{r.Device, r.MsgID})
		}
	}
	return nil
}

// param writes the n-th (from 1) placeholder in the engine's own spelling:
// a statement of thousands is not worth rebind's pass over it.
func (s *Store) param(q *strings.Builder, n int) {
	if s.engine == Postgres {
		q.WriteByte('$')
		q.WriteString(strconv.Itoa(n))
		return
	}
	q.WriteByte('?')
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
