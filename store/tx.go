package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/vise-edge/vise"
)

// tx is a write transaction. SQL is written with '?' and rebound here.
type tx struct {
	s      *Store
	tx     *sql.Tx
	ctx    context.Context
	events []vise.Event
}

// write runs fn in a transaction: every public method that changes state is
// exactly one of these. Events emitted inside are published after commit.
func (s *Store) write(ctx context.Context, op string, fn func(t *tx) error) error {
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.classify(op, err)
	}
	t := &tx{s: s, tx: sqlTx, ctx: ctx}
	if err := fn(t); err != nil {
		sqlTx.Rollback()
		return s.classify(op, err)
	}
	if err := sqlTx.Commit(); err != nil {
		return s.classify(op, err)
	}
	for _, ev := range t.events {
		s.publish(ev)
	}
	return nil
}

func (t *tx) exec(q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(t.ctx, t.s.rebind(q), args...)
}

func (t *tx) query(q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(t.ctx, t.s.rebind(q), args...)
}

func (t *tx) queryRow(q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, t.s.rebind(q), args...)
}

// emit records an event in this transaction and runs the hooks.
func (t *tx) emit(typ, subject string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("event %s: %w", typ, err)
	}
	ev := vise.Event{ID: t.s.newID(), Type: typ, Subject: subject, Data: b, CreatedAt: t.s.clock()}
	if _, err := t.exec(`INSERT INTO events (id, type, subject, data, created_at) VALUES (?, ?, ?, ?, ?)`,
		ev.ID, ev.Type, ev.Subject, string(b), micros(ev.CreatedAt)); err != nil {
		return err
	}
	for _, h := range t.s.hooks {
		if err := h(t.ctx, t.tx, ev); err != nil {
			return fmt.Errorf("event %s hook: %w", typ, err)
		}
	}
	t.events = append(t.events, ev)
	return nil
}

// Reads go to the reader pool, through the statement cache where there is
// one (SQLite; pgx keeps its own per connection).
func (s *Store) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := s.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.r.QueryContext(ctx, s.rebind(q), args...)
}

func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := s.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.r.QueryRowContext(ctx, s.rebind(q), args...)
}

func (s *Store) stmt(ctx context.Context, q string) *sql.Stmt {
	if s.stmts == nil {
		return nil
	}
	return s.stmts.get(ctx, q)
}

var placeholder = regexp.MustCompile(`\?`)

// rebind turns '?' into '$1', '$2', ... for PostgreSQL. No query here has a
// literal '?' in a string.
func (s *Store) rebind(q string) string {
	if s.engine != Postgres {
		return q
	}
	n := 0
	return placeholder.ReplaceAllStringFunc(q, func(string) string {
		n++
		return "$" + strconv.Itoa(n)
	})
}

// SQLite result codes (primary codes are the low byte of extended ones).
const (
	sqliteBusy       = 5
	sqliteLocked     = 6
	sqliteReadOnly   = 8
	sqliteIOErr      = 10
	sqliteCorrupt    = 11
	sqliteFull       = 13
	sqliteCantOpen   = 14
	sqliteConstraint = 19
	sqliteNotADB     = 26
)

// classify turns driver errors into *vise.Error with a message that says
// what to do, and wraps everything else with the operation's name.
func (s *Store) classify(op string, err error) error {
	var ve *vise.Error
	if errors.As(err, &ve) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	unavailable := func(format string, args ...any) error {
		e := vise.Errorf(vise.CodeUnavailable, format, args...)
		e.Err = err
		return e
	}
	// The driver's error text, not the error: callers get a vise code and
	// must not come to depend on driver types through errors.As.
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteBusy, sqliteLocked:
			return unavailable("%s: the %s is locked by another process; retry, or stop the other writer", op, s.where)
		case sqliteReadOnly, sqliteIOErr, sqliteCantOpen, sqliteFull, sqliteCorrupt, sqliteNotADB:
			return unavailable("%s: the %s cannot be used: %s; check the file, its disk and its permissions", op, s.where, se.Error())
		case sqliteConstraint:
			return vise.Errorf(vise.CodeConflict, "%s: conflicts with stored data: %s", op, se.Error())
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505" || pe.Code == "23503" || pe.Code == "23514": // unique, foreign key, check: as SQLite reports them
			return vise.Errorf(vise.CodeConflict, "%s: conflicts with stored data: %s", op, pe.Message)
		case strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57") || pe.Code == "3D000" || strings.HasPrefix(pe.Code, "53"):
			return unavailable("%s: the %s is unavailable: %s; check that PostgreSQL is running and --db is right", op, s.where, pe.Message)
		}
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		strings.Contains(err.Error(), "database is closed") || strings.Contains(err.Error(), "conn closed") {
		return unavailable("%s: the %s is unavailable: %v; check that it is running and --db is right", op, s.where, redact(err))
	}
	return fmt.Errorf("%s: %w", op, err)
}

var passwordInURL = regexp.MustCompile(`(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@`)

// redact removes passwords from connection strings in error texts.
func redact(err error) string { return passwordInURL.ReplaceAllString(err.Error(), "${1}xxxxx@") }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func fromNullMicros(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicros(n.Int64)
	return &t
}

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	return sub
}

// scanJSON decodes TEXT columns into their Go values.
func scanJSON(pairs ...any) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		s := pairs[i].(string)
		if s == "" {
			continue
		}
		if err := json.Unmarshal([]byte(s), pairs[i+1]); err != nil {
			return fmt.Errorf("stored JSON: %w", err)
		}
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }

// list runs a read query and scans every row with scan.
func list[T any](ctx context.Context, s *Store, op string, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, s.classify(op, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.classify(op, err)
		}
		out = append(out, v)
	}
	return out, s.classifyRows(op, rows.Err())
}

func scanString(row scanner) (v string, err error) { return v, row.Scan(&v) }
