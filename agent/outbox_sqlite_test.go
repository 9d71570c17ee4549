package agent

import (
	"database/sql"
	"fmt"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite"
)

// sqliteOutbox is the agent's store-and-forward queue before the log
// (outbox.go), kept here as the baseline of BenchmarkOutbox: results are
// committed to the
// agent's own SQLite database (synchronous=FULL: on disk before the
// component is told nothing) and leave it only when the server's broker has
// acknowledged them, oldest first. Caps on bytes and age drop the oldest
// messages, counted, so a long outage cannot fill the disk.
type sqliteOutbox struct {
	db       *sql.DB
	maxBytes int64
	maxAge   time.Duration
	now      func() time.Time
	dropped  atomic.Int64
	notify   chan struct{}
}

type sqliteMsg struct {
	seq     int64
	topic   string
	payload []byte
}

func openSQLiteOutbox(path string, maxBytes int64, maxAge time.Duration) (*sqliteOutbox, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(wal)&_pragma=synchronous(full)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	_, err = db.Exec(`CREATE TABLE IF NOT EXISTS outbox (
		seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,
		size INTEGER NOT NULL, created_at INTEGER NOT NULL)`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open outbox %s: %w", path, err)
	}
	return &sqliteOutbox{db: db, maxBytes: maxBytes, maxAge: maxAge, now: time.Now, notify: make(chan struct{}, 1)}, nil
}

func (o *sqliteOutbox) Close() error { return o.db.Close() }

// put commits a message, then enforces the caps.
func (o *sqliteOutbox) put(topic string, payload []byte) error {
	now := o.now()
	if _, err := o.db.Exec(`INSERT INTO outbox (topic, payload, size, created_at) VALUES (?, ?, ?, ?)`,
		topic, payload, len(payload), now.UnixMilli()); err != nil {
		return fmt.Errorf("queue message: %w", err)
	}
	res, err := o.db.Exec(`DELETE FROM outbox WHERE created_at < ?`, now.Add(-o.maxAge).UnixMilli())
	if err == nil {
		n, _ := res.RowsAffected()
		o.dropped.Add(n)
	}
	for {
		_, bytes, err := o.depth()
		if err != nil || bytes <= o.maxBytes {
			break
		}
		if _, err := o.db.Exec(`DELETE FROM outbox WHERE seq = (SELECT MIN(seq) FROM outbox)`); err != nil {
			break
		}
		o.dropped.Add(1)
	}
	select {
	case o.notify <- struct{}{}:
	default:
	}
	return nil
}

func (o *sqliteOutbox) peek(n int) ([]sqliteMsg, error) {
	rows, err := o.db.Query(`SELECT seq, topic, payload FROM outbox ORDER BY seq LIMIT ?`, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sqliteMsg
	for rows.Next() {
		var m sqliteMsg
		if err := rows.Scan(&m.seq, &m.topic, &m.payload); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (o *sqliteOutbox) ack(seq int64) error {
	_, err := o.db.Exec(`DELETE FROM outbox WHERE seq = ?`, seq)
	return err
}

// depth is how many messages and bytes wait.
func (o *sqliteOutbox) depth() (int, int64, error) {
	var n int
	var b int64
	err := o.db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox`).Scan(&n, &b)
	return n, b, err
}
