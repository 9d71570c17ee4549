package agent

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite"
)

// outbox is the store-and-forward queue: results are committed to the
// agent's own SQLite database (synchronous=FULL: on disk before the
// component is told nothing) and leave it only when the server's broker has
// acknowledged them, oldest first. Caps on bytes and age drop the oldest
// messages, counted, so a long outage cannot fill the disk.
type outbox struct {
	db       *sql.DB
	maxBytes int64
	maxAge   time.Duration
	now      func() time.Time
	dropped  atomic.Int64
	notify   chan struct{}
}

type outMsg struct {
	seq     int64
	topic   string
	payload []byte
}

func openOutbox(path string, maxBytes int64, maxAge time.Duration) (*outbox, error) {
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
	return &outbox{db: db, maxBytes: maxBytes, maxAge: maxAge, now: time.Now, notify: make(chan struct{}, 1)}, nil
}

func (o *outbox) Close() error { return o.db.Close() }

// put commits a message, then enforces the caps.
func (o *outbox) put(topic string, payload []byte) error {
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

func (o *outbox) peek(n int) ([]outMsg, error) {
	rows, err := o.db.Query(`SELECT seq, topic, payload FROM outbox ORDER BY seq LIMIT ?`, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []outMsg
	for rows.Next() {
		var m outMsg
		if err := rows.Scan(&m.seq, &m.topic, &m.payload); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (o *outbox) ack(seq int64) error {
	_, err := o.db.Exec(`DELETE FROM outbox WHERE seq = ?`, seq)
	return err
}

// depth is how many messages and bytes wait.
func (o *outbox) depth() (int, int64, error) {
	var n int
	var b int64
	err := o.db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox`).Scan(&n, &b)
	return n, b, err
}

// forward sends queued messages in order until ctx ends, waiting for each
// acknowledgement; while the link is down it retries every second.
func (o *outbox) forward(ctx context.Context, send func(ctx context.Context, topic string, payload []byte) error) {
	for ctx.Err() == nil {
		msgs, err := o.peek(64)
		if err == nil && len(msgs) == 0 {
			select {
			case <-ctx.Done():
			case <-o.notify:
			case <-time.After(5 * time.Second):
			}
			continue
		}
		for _, m := range msgs {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = send(sctx, m.topic, m.payload)
			cancel()
			if err != nil {
				break
			}
			o.ack(m.seq)
		}
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}
