package ingest

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/blobs"
	"github.com/vise-edge/vise/store"
	"github.com/vise-edge/vise/store/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

// newIngester is an Ingester on a fresh database of the engine, with a
// real blob store.
func newIngester(t testing.TB, engine string, busy time.Duration) (*Ingester, *store.Store) {
	t.Helper()
	url := filepath.Join(t.TempDir(), "vise.db")
	if engine == store.Postgres {
		url = pgtest.NewDatabase(t)
	}
	s, err := store.Open(ctx, store.Options{URL: url, BusyTimeout: busy})
	if err != nil {
		t.Fatal(err)
	}
	b, err := blobs.Open(ctx, filepath.Join(t.TempDir(), "blobs"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	in := New(Options{Context: ctx, Store: s, Blobs: b})
	t.Cleanup(func() { in.Close(); b.Close(); s.Close() })
	return in, s
}

// lock holds the results table from another connection until the
// returned function is called, so the writer waits with its batch.
func lock(t *testing.T, s *store.Store) (release func()) {
	t.Helper()
	return lockTable(t, s, "results")
}

// lockTable is lock for any table (on SQLite: the whole database).
func lockTable(t *testing.T, s *store.Store, table string) (release func()) {
	t.Helper()
	db := s.DB()
	begin := []string{"BEGIN EXCLUSIVE"}
	if s.Engine() == store.Postgres {
		begin = []string{"BEGIN", "LOCK TABLE " + table + " IN ACCESS EXCLUSIVE MODE"}
	} else {
		// The store's own writer is a single connection: lock from another.
		var err error
		if db, err = sql.Open("sqlite", dbPath(t, s)); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range begin {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			conn.ExecContext(ctx, "ROLLBACK")
			conn.Close()
			if db != s.DB() {
				db.Close()
			}
		})
	}
	t.Cleanup(release)
	return release
}

func dbPath(t *testing.T, s *store.Store) string {
	t.Helper()
	var seq int
	var name, file string
	if err := s.DB().QueryRowContext(ctx, "PRAGMA database_list").Scan(&seq, &name, &file); err != nil {
		t.Fatal(err)
	}
	return file
}

func resultMsg(id string) []byte {
	return []byte(`{"schema":1,"msg_id":"` + id + `","detections":[{"class":"scratch"}]}`)
}

type call struct{ device, id string }

// gather queues the first call and waits until the writer is committing it
// alone (stuck on the lock), then starts the rest and waits until they
// are all queued: released, they are one batch. It returns each call's
// error.
func gather(t *testing.T, in *Ingester, first call, rest []call) (wait func() []error) {
	t.Helper()
	p, err := ParseResult(first.device, resultMsg(first.id))
	if err != nil {
		t.Fatal(err)
	}
	headDone := make(chan answer, 1)
	head := &pending{r: vise.Result{MsgID: p.MsgID, Device: first.device, Component: "vise.inspect", Defects: p.Defects, Payload: p.fields},
		done: func(a answer) { headDone <- a }}
	in.queue <- head
	poll(t, func() bool { return gauge(in.m.committing) == 1 })
	errs := make([]error, 1+len(rest))
	var wg sync.WaitGroup
	for i, c := range rest {
		wg.Go(func() { errs[i+1] = in.Result("vise/devices/"+c.device+"/inference/vise.inspect", resultMsg(c.id)) })
	}
	poll(t, func() bool { return len(in.queue) == len(rest) })
	return func() []error {
		wg.Wait()
		a := <-headDone
		if a.err == nil {
			in.m.results.WithLabelValues(map[bool]string{true: "stored", false: "duplicate"}[a.inserted]).Inc() // as Result counts
		} else {
			in.m.results.WithLabelValues("unavailable").Inc()
		}
		errs[0] = a.err
		return errs
	}
}

func poll(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 30 s")
		}
	}
}

// value reads a counter.
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	c.Write(&m)
	return m.GetCounter().GetValue()
}

func gauge(g prometheus.Gauge) float64 {
	var m dto.Metric
	g.Write(&m)
	return m.GetGauge().GetValue()
}

func count(in *Ingester, outcome string) int {
	return int(value(in.m.results.WithLabelValues(outcome)))
}

// Results queued while a batch commits are stored together in the next
// transaction; the same message twice in one batch is stored once and
// counted once as a duplicate, and both senders are acknowledged.
func TestResultsBatched(t *testing.T) {
	for _, engine := range []string{store.SQLite, store.Postgres} {
		t.Run(engine, func(t *testing.T) {
			in, s := newIngester(t, engine, 30*time.Second)
			release := lock(t, s)
			var rest []call
			for i := range 99 {
				rest = append(rest, call{fmt.Sprintf("cam-%d", i%10), fmt.Sprintf("m-%d", i)})
			}
			rest = append(rest, call{"cam-3", "m-3"}) // m-3 of cam-3 twice in the batch
			wait := gather(t, in, call{"cam-0", "first"}, rest)
			release()
			for i, err := range wait() {
				if err != nil {
					t.Errorf("call %d: %v", i, err)
				}
			}
			if got := value(in.m.batches.WithLabelValues("stored")); got != 2 {
				t.Errorf("%v transactions, want 2 (the first result alone, then the 100 queued behind it)", got)
			}
			if stored, dup := count(in, "stored"), count(in, "duplicate"); stored != 100 || dup != 1 {
				t.Errorf("stored %d, duplicates %d; want 100 and 1", stored, dup)
			}
			rs, _ := s.ListResults(ctx, "", time.Time{}, 1000)
			if len(rs) != 100 {
				t.Errorf("%d results in the database, want 100", len(rs))
			}
		})
	}
}

// A batch that cannot be stored (the database is locked beyond the busy
// timeout) fails every caller in it, so each device keeps its result and
// sends it again; sent again, each is stored once.
func TestFailedBatchFailsEveryCaller(t *testing.T) {
	in, s := newIngester(t, store.SQLite, 2*time.Second) // the rest queue up within it
	release := lock(t, s)
	var rest []call
	for i := range 20 {
		rest = append(rest, call{fmt.Sprintf("cam-%d", i), "m-1"})
	}
	wait := gather(t, in, call{"cam-first", "m-1"}, rest)
	for i, err := range wait() {
		if err == nil {
			t.Errorf("call %d acknowledged though its batch failed", i)
		}
	}
	if got := value(in.m.batches.WithLabelValues("failed")); got != 2 {
		t.Errorf("%v failed transactions, want 2", got)
	}
	release()
	if rs, _ := s.ListResults(ctx, "", time.Time{}, 0); len(rs) != 0 {
		t.Fatalf("%d results of failed batches stored", len(rs))
	}
	for range 2 { // sent again, and once more after a lost PUBACK
		for _, c := range append(rest, call{"cam-first", "m-1"}) {
			if err := in.Result("vise/devices/"+c.device+"/inference/vise.inspect", resultMsg(c.id)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if stored, dup, un := count(in, "stored"), count(in, "duplicate"), count(in, "unavailable"); stored != 21 || dup != 21 || un != 21 {
		t.Errorf("stored %d, duplicates %d, unavailable %d; want 21 each", stored, dup, un)
	}
}

// A result the database refuses for good (here a trigger) fails alone: the
// rest of its batch is stored.
func TestBadResultDoesNotHoldBackItsBatch(t *testing.T) {
	in, s := newIngester(t, store.SQLite, 30*time.Second)
	if _, err := s.DB().ExecContext(ctx, `CREATE TRIGGER poison BEFORE INSERT ON results WHEN NEW.msg_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END`); err != nil {
		t.Fatal(err)
	}
	release := lock(t, s)
	rest := []call{{"cam-1", "a"}, {"cam-2", "poison"}, {"cam-3", "b"}}
	wait := gather(t, in, call{"cam-0", "first"}, rest)
	release()
	errs := wait()
	for i, err := range errs {
		if (err != nil) != (i == 2) {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if rs, _ := s.ListResults(ctx, "", time.Time{}, 0); len(rs) != 3 {
		t.Errorf("%d results stored, want 3 (all but the poisoned one)", len(rs))
	}
}

// ResultAsync hands one device's results to the writer without waiting
// for their commit, so they share a transaction, and answers each only
// once it is committed.
func TestResultAsyncAnswersAfterCommit(t *testing.T) {
	in, s := newIngester(t, store.SQLite, 30*time.Second)
	release := lock(t, s)
	const n = 20
	answers := make(chan error, n)
	for i := range n {
		in.ResultAsync("vise/devices/cam-1/inference/vise.inspect", resultMsg(fmt.Sprintf("m-%d", i)), func(err error) { answers <- err })
	}
	poll(t, func() bool { return gauge(in.m.committing) >= 1 }) // the writer is at it, stuck on the lock
	if len(answers) != 0 {
		t.Fatalf("%d results answered before anything was committed", len(answers))
	}
	release()
	for range n {
		if err := <-answers; err != nil {
			t.Errorf("answer: %v", err)
		}
	}
	if got := value(in.m.batches.WithLabelValues("stored")); got > 2 {
		t.Errorf("%v transactions for one device's %d results, want at most 2", got, n)
	}
	if stored := count(in, "stored"); stored != n {
		t.Errorf("stored %d, want %d", stored, n)
	}
}
