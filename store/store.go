// Package store keeps Vise's records — models, components, devices,
// deployments, events, tokens — in SQLite (the embedded default) or
// PostgreSQL, with one set of migrations and one portable SQL dialect:
// queries are written with '?' placeholders and rebound for PostgreSQL.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/pressly/goose/v3"

	"github.com/vise-edge/vise"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Engines.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Options configure Open. Zero values are replaced by the defaults noted.
type Options struct {
	// URL is "postgres://..." (or "postgresql://"), "sqlite:///abs/path.db",
	// or a plain file path for SQLite.
	URL    string
	Logger *slog.Logger     // default: discard
	Now    func() time.Time // default: time.Now
	// BusyTimeout is how long a SQLite writer waits for a lock before the
	// request fails as unavailable. Default 5s.
	BusyTimeout time.Duration
	// MaxConns caps PostgreSQL connections and SQLite readers. Default 8.
	MaxConns int
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.MaxConns == 0 {
		o.MaxConns = 8
	}
}

// Store is safe for concurrent use.
type Store struct {
	engine string
	where  string     // file path or host, for error messages; never the password
	w      *sql.DB    // writes; for SQLite a single connection, so one writer
	r      *sql.DB    // reads
	stmts  *stmtCache // prepared reads on r; nil for PostgreSQL
	log    *slog.Logger
	now    func() time.Time

	hooks []Hook

	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
	// lastReceived is the latest received_at handed to a result, in
	// microseconds: each result gets its own, so pages that end at a
	// received_at (ListResultsBefore) never split a tie.
	lastReceived int64
	subs         map[chan vise.Event]struct{}
}

// Hook runs inside the transaction that records an event, so work it queues
// (a pipeline job, say) commits or rolls back with the change itself.
type Hook func(ctx context.Context, tx *sql.Tx, ev vise.Event) error

// Open connects, checks the database answers, and applies migrations.
func Open(ctx context.Context, opts Options) (*Store, error) {
	opts.setDefaults()
	s := &Store{log: opts.Logger, now: opts.Now, subs: map[chan vise.Event]struct{}{},
		entropy: ulid.Monotonic(rand.Reader, 0)}
	var err error
	if isPostgres(opts.URL) {
		err = s.openPostgres(opts)
	} else {
		err = s.openSQLite(opts)
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func isPostgres(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

func (s *Store) openPostgres(opts Options) error {
	u, err := url.Parse(opts.URL)
	if err != nil {
		return vise.Errorf(vise.CodeInvalid, "invalid --db URL: %v", redact(err))
	}
	s.engine, s.where = Postgres, "PostgreSQL at "+u.Host+u.Path
	db, err := sql.Open("pgx", opts.URL)
	if err != nil {
		return vise.Errorf(vise.CodeInvalid, "invalid --db URL: %v", redact(err))
	}
	db.SetMaxOpenConns(opts.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s.w, s.r = db, db
	return nil
}

func (s *Store) openSQLite(opts Options) error {
	path := strings.TrimPrefix(opts.URL, "sqlite://")
	if path == "" {
		return vise.Errorf(vise.CodeInvalid, "no database given: pass --db with a SQLite file path or a postgres:// URL")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return vise.Errorf(vise.CodeUnavailable, "cannot create the database directory %s: %w", dir, err)
		}
	}
	if err := ownerOnly(path, opts.Logger); err != nil {
		return err
	}
	s.engine, s.where = SQLite, "SQLite database "+path
	// synchronous=FULL: a commit is on disk, not only in the OS, when it
	// returns, so a result acknowledged after its commit survives a power
	// loss too (NORMAL keeps it through a crash of the server only); with
	// group commit that is one fsync a batch (decision 0022).
	pragmas := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=journal_mode(wal)&_pragma=foreign_keys(1)&_pragma=synchronous(full)",
		opts.BusyTimeout.Milliseconds())
	// Writers take the lock at BEGIN (immediate) so two transactions never
	// deadlock upgrading read locks; one connection makes Vise a single writer.
	// The writer checkpoints the WAL every 8,192 pages (32 MiB) rather than
	// SQLite's 1,000, and caches 32 MiB of pages rather than 2: results
	// land on the same index leaves (one per device) batch after batch,
	// and a page changed many times between checkpoints is copied back
	// into the database once (decision 0026).
	writer := pragmas + "&_pragma=wal_autocheckpoint(8192)&_pragma=cache_size(-32768)&_txlock=immediate"
	w, err := sql.Open("sqlite", "file:"+path+"?"+writer)
	if err != nil {
		return fmt.Errorf("open %s: %w", s.where, err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return fmt.Errorf("open %s: %w", s.where, err)
	}
	r.SetMaxOpenConns(opts.MaxConns)
	// Keep every reader open: a closed one takes its prepared statements
	// with it, and database/sql would keep only 2 of the 8 idle.
	r.SetMaxIdleConns(opts.MaxConns)
	s.w, s.r = w, r
	s.stmts = newStmtCache(r)
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	dialect := goose.DialectSQLite3
	if s.engine == Postgres {
		dialect = goose.DialectPostgres
	}
	p, err := goose.NewProvider(dialect, s.w, mustSub(migrations, "migrations"))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return s.classify("apply migrations", err)
	}
	for _, r := range res {
		s.log.Info("applied migration", "version", r.Source.Version, "file", filepath.Base(r.Source.Path), "took", r.Duration)
	}
	return nil
}

// Engine is SQLite or Postgres.
func (s *Store) Engine() string { return s.engine }

// DB is the writer pool, for parts that keep their own tables in the same
// database (the pipeline's job queue).
func (s *Store) DB() *sql.DB { return s.w }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return s.classify("ping", err)
	}
	return nil
}

// Close closes the pools.
func (s *Store) Close() error {
	if s.stmts != nil {
		s.stmts.close()
	}
	err := s.w.Close()
	if s.r != s.w {
		if rerr := s.r.Close(); err == nil {
			err = rerr
		}
	}
	return err
}

// OnEvent registers a hook; call before the store is used.
func (s *Store) OnEvent(h Hook) { s.hooks = append(s.hooks, h) }

func (s *Store) newID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ulid.MustNew(ulid.Timestamp(s.now()), s.entropy).String()
}

// clock is the current time as stored: UTC, whole microseconds, so a value
// read back equals the value written.
func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }
