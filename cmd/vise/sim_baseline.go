package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vise-edge/vise/store"
)

// RawBaseline is the database alone, measured by `vise sim --direct` right
// after its run: the same number of rows, made by the same generator, for
// the same devices, stored in transactions of the server's average batch
// size in that run, one multi-row INSERT each — no MQTT, no TLS, no
// checks, no duplicates handling, no acknowledgements. The ratios say how
// close ingestion came to what the database can take on this machine in
// these minutes, which the neighbours' load changes more than anything
// Vise does.
type RawBaseline struct {
	DB         string  `json:"db"` // sqlite (a new file) or postgresql (--baseline-db)
	Rows       int     `json:"rows"`
	BatchSize  int     `json:"batch_size"`
	RowsPerSec float64 `json:"rows_per_sec"`
	// CPU of this process per row: for PostgreSQL the client side only.
	CPUPerRowUS float64 `json:"cpu_us_per_row"`
	// StoredRatio is the run's stored_per_sec over RowsPerSec; CPURatio the
	// server's CPU per stored result over CPUPerRowUS.
	StoredRatio float64 `json:"stored_per_sec_ratio"`
	CPURatio    float64 `json:"server_cpu_ratio"`
}

// rawBaseline inserts rows rows of devices' results in batches of batch
// into a new SQLite file in dir, or the PostgreSQL database at url.
func rawBaseline(ctx context.Context, url, dir string, devices []*directDevice, rows, batch int) (*RawBaseline, error) {
	db := "postgresql"
	if url == "" {
		db = "sqlite"
		url = filepath.Join(dir, "baseline.db")
		defer os.Remove(url)
		defer os.Remove(url + "-wal")
		defer os.Remove(url + "-shm")
	}
	s, err := store.Open(ctx, store.Options{URL: url})
	if err != nil {
		return nil, fmt.Errorf("--baseline-db: %w", err)
	}
	defer s.Close()
	batch = max(1, min(batch, 2000)) // the server's MaxBatch; 16,000 parameters, within both databases' limits
	rep := &RawBaseline{DB: db, Rows: rows, BatchSize: batch}
	run := "raw-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	// The rows are made before the clock starts: only the database is timed.
	stmts := make([][]any, 0, rows/batch+1)
	for done := 0; done < rows; done += batch {
		stmts = append(stmts, rawArgs(devices, run, done, min(batch, rows-done)))
	}
	cpu, start := cpuTime(), time.Now()
	for _, args := range stmts {
		if err := rawInsert(ctx, s, args); err != nil {
			return nil, fmt.Errorf("raw INSERT baseline: %w", err)
		}
	}
	secs := time.Since(start).Seconds()
	rep.RowsPerSec = float64(rows) / secs
	rep.CPUPerRowUS = float64((cpuTime() - cpu).Microseconds()) / float64(rows)
	return rep, nil
}

// rawArgs is the arguments of one multi-row INSERT: rows from, from+1, …
// taken round-robin over the devices, as they arrive in a run.
func rawArgs(devices []*directDevice, run string, from, n int) []any {
	args := make([]any, 0, 8*n)
	at := time.Now().UnixMicro()
	for i := from; i < from+n; i++ {
		d := devices[i%len(devices)]
		seq := int64(i / len(devices))
		payload := d.result(seq, time.Now())
		args = append(args, run+"-"+strconv.FormatInt(seq, 10), d.name, "vise.sim", 1, string(payload), at+int64(i),
			"9f2c1d6a4b3e8f7a0c5d2e1b6a9f8c7d3e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c", 0.91)
	}
	return args
}

// rawInsert stores one batch: one transaction, one statement.
func rawInsert(ctx context.Context, s *store.Store, args []any) error {
	n := len(args) / 8
	var q strings.Builder
	q.WriteString(`INSERT INTO results (msg_id, device, component, defects, payload, received_at, model_sha256, top_confidence) VALUES `)
	for i := range n {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteByte('(')
		for c := range 8 {
			if c > 0 {
				q.WriteByte(',')
			}
			if s.Engine() == store.Postgres {
				q.WriteString("$" + strconv.Itoa(8*i+c+1))
			} else {
				q.WriteByte('?')
			}
		}
		q.WriteByte(')')
	}
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
