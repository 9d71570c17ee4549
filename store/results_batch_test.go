package store_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vise-edge/vise"
	"github.com/vise-edge/vise/infer"
	"github.com/vise-edge/vise/store"
)

func result(device, msgID string) vise.Result {
	return vise.Result{MsgID: msgID, Device: device, Component: "vise.inspect", Payload: []byte(`{"msg_id":"` + msgID + `"}`)}
}

// One transaction stores a batch: new results, one already stored, the
// same message twice in the batch (one stored, one duplicate) and another
// device's message with the same id (its own).
func TestInsertResults(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		if ok, err := s.InsertResult(ctx, result("cam-1", "old")); !ok || err != nil {
			t.Fatalf("insert: %v %v", ok, err)
		}
		batch := []vise.Result{result("cam-1", "a"), result("cam-1", "old"), result("cam-1", "b"), result("cam-1", "a"), result("cam-2", "a")}
		got, err := s.InsertResults(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]bool{true, false, true, false, true}, got); diff != "" {
			t.Errorf("inserted (-want +got):\n%s", diff)
		}
		rs, _ := s.ListResults(ctx, "", time.Time{}, 0)
		var ids []string
		for _, r := range rs {
			ids = append(ids, r.Device+"/"+r.MsgID)
		}
		// Each result has its own received_at, later ones in batch order.
		if diff := cmp.Diff([]string{"cam-2/a", "cam-1/b", "cam-1/a", "cam-1/old"}, ids); diff != "" {
			t.Errorf("stored, newest first (-want +got):\n%s", diff)
		}
		for i := 1; i < len(rs); i++ {
			if !rs[i].ReceivedAt.Before(rs[i-1].ReceivedAt) {
				t.Errorf("%s received at %v, not before %s at %v", rs[i].MsgID, rs[i].ReceivedAt, rs[i-1].MsgID, rs[i-1].ReceivedAt)
			}
		}
		if got, err := s.InsertResults(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("empty batch: %v %v", got, err)
		}
	})
}

// A batch larger than one statement holds is still one transaction, and
// pages through ListResultsBefore lose none of it.
func TestInsertResultsLarge(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		const n = 1201
		batch := make([]vise.Result, n)
		for i := range batch {
			batch[i] = result("cam-1", fmt.Sprintf("m-%04d", i))
		}
		got, err := s.InsertResults(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		stored := 0
		for _, ok := range got {
			if ok {
				stored++
			}
		}
		seen := map[string]bool{}
		var before time.Time
		for {
			rs, more, err := s.ListResultsBefore(ctx, "cam-1", time.Time{}, before, 500)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				seen[r.MsgID] = true
			}
			if !more {
				break
			}
			before = rs[len(rs)-1].ReceivedAt
		}
		if stored != n || len(seen) != n {
			t.Errorf("%d reported stored, %d found by paging; want %d", stored, len(seen), n)
		}
	})
}

// A batch is all or nothing: a row the database refuses (here, by a
// trigger) leaves the others of its batch unstored too.
func TestInsertResultsAtomic(t *testing.T) {
	engines(t, func(t *testing.T, s *store.Store) {
		poison(t, s)
		_, err := s.InsertResults(ctx, []vise.Result{result("cam-1", "a"), result("cam-1", "poison"), result("cam-1", "b")})
		if err == nil {
			t.Fatal("a batch with a refused row was stored")
		}
		if rs, _ := s.ListResults(ctx, "", time.Time{}, 0); len(rs) != 0 {
			t.Errorf("%d results of a failed batch stored", len(rs))
		}
	})
}

// poison makes the database refuse any result whose msg_id is "poison".
func poison(t *testing.T, s *store.Store) {
	t.Helper()
	stmts := []string{`CREATE TRIGGER poison BEFORE INSERT ON results WHEN NEW.msg_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END`}
	if s.Engine() == store.Postgres {
		stmts = []string{
			`CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN IF NEW.msg_id = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`,
			`CREATE TRIGGER poison BEFORE INSERT ON results FOR EACH ROW EXECUTE FUNCTION poison()`,
		}
	}
	for _, q := range stmts {
		if _, err := s.DB().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
}

// syntheticRows are the simulator's results as the server stores them.
func syntheticRows(devices, n int) []vise.Result {
	rs := make([]vise.Result, n)
	now := time.Now()
	for i := range rs {
		r := infer.Synthetic(i, now)
		r.Device, r.Component, r.MsgID = fmt.Sprintf("sim-%04d", i%devices), "vise.sim", fmt.Sprintf("run-%d", i)
		b, _ := json.Marshal(r)
		rs[i] = vise.Result{MsgID: r.MsgID, Device: r.Device, Component: r.Component, Defects: len(r.Detections), Payload: b}
	}
	return rs
}

// benchBatches are the batch sizes benchmarked: a lightly loaded server
// commits a few results at a time, a saturated one up to 500 (the
// Ingester's default).
var benchBatches = []int{10, 100, 500}

// BenchmarkInsertResults is the store's batched insert; compare it with
// BenchmarkInsertResultsRaw (the same rows, a bare multi-row INSERT) for
// what exactly-once costs. Reports rows/s.
func BenchmarkInsertResults(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *store.Store, rows []vise.Result, batch int) {
		for i := 0; i < len(rows); i += batch {
			if _, err := s.InsertResults(ctx, rows[i:i+batch]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkInsertResultsRaw is the floor: the same rows in transactions of
// the same size, one multi-row INSERT each, no conflict handling, no
// answers. Reports rows/s.
func BenchmarkInsertResultsRaw(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *store.Store, rows []vise.Result, batch int) {
		for i := 0; i < len(rows); i += batch {
			tx, err := s.DB().BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			q, args := rawInsert(s.Engine(), rows[i:i+batch])
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func rawInsert(engine string, rows []vise.Result) (string, []any) {
	var q strings.Builder
	q.WriteString(`INSERT INTO results (msg_id, device, component, defects, payload, received_at) VALUES `)
	var args []any
	at := time.Now().UnixMicro()
	for i, r := range rows {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteByte('(')
		for c := range 6 {
			if c > 0 {
				q.WriteByte(',')
			}
			if engine == store.Postgres {
				fmt.Fprintf(&q, "$%d", len(args)+c+1)
			} else {
				q.WriteByte('?')
			}
		}
		q.WriteByte(')')
		args = append(args, r.MsgID, r.Device, r.Component, r.Defects, string(r.Payload), at+int64(i))
	}
	return q.String(), args
}

// benchEngines runs insert on both engines and each batch size with b.N
// batches of fresh synthetic rows from 100 devices, reporting rows/s.
func benchEngines(b *testing.B, insert func(b *testing.B, s *store.Store, rows []vise.Result, batch int)) {
	for _, engine := range []string{store.SQLite, store.Postgres} {
		for _, batch := range benchBatches {
			b.Run(fmt.Sprintf("%s/batch=%d", engine, batch), func(b *testing.B) {
				s := openStore(b, engine, store.Options{})
				rows := syntheticRows(100, b.N*batch)
				b.SetBytes(int64(len(rows[0].Payload) * batch))
				b.ResetTimer()
				cpu := cpuTime()
				insert(b, s, rows, batch)
				b.ReportMetric(float64(len(rows))/b.Elapsed().Seconds(), "rows/s")
				// On a shared machine wall time swings with the neighbours'
				// load; this process's CPU per row does not (PostgreSQL's
				// own CPU is not in it).
				b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(len(rows)), "cpu-us/row")
			})
		}
	}
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// SQLite commits with synchronous=FULL: a result acknowledged after its
// commit is on disk, and survives a power loss as well as a crash.
func TestSQLiteCommitsAreSynchronous(t *testing.T) {
	s := openStore(t, store.SQLite, store.Options{})
	var level int
	if err := s.DB().QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != 2 {
		t.Errorf("PRAGMA synchronous = %d, want 2 (FULL)", level)
	}
	// The writer checkpoints and caches in large steps (decision 0026).
	for pragma, want := range map[string]int{"wal_autocheckpoint": 8192, "cache_size": -32768} {
		var got int
		if err := s.DB().QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("writer's PRAGMA %s = %d, want %d", pragma, got, want)
		}
	}
}
