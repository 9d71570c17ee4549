package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/vise-edge/vise/store/pgtest"
)

// Outage rehearsals: 20 devices publish 50 results/s each while the
// server's database goes away. The server stops taking results (no
// acknowledgement, so the devices keep them in their outboxes) and takes
// them once the database is back: every published result is stored, once,
// compared id by id.
func TestResultsSurviveDatabaseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("outage rehearsals take minutes; skipped with -short")
	}
	t.Run("sqlite locked 30s", func(t *testing.T) {
		data := t.TempDir()
		e, _ := startServerOn(t, data, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0")
		db := openDB(t, "sqlite", filepath.Join(data, "vise.db"))
		rehearse(t, e, db, 30*time.Second, func() (restore func()) {
			conn, err := db.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			// The server writes all the time: wait for its transaction to
			// end rather than fail on the first SQLITE_BUSY.
			if _, err := conn.ExecContext(context.Background(), "PRAGMA busy_timeout = 30000"); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
				t.Fatal(err)
			}
			return func() {
				conn.ExecContext(context.Background(), "ROLLBACK")
				conn.Close()
			}
		})
	})
	t.Run("postgres stopped 60s", func(t *testing.T) {
		url := pgtest.NewDatabase(t)
		e, _ := startServerOn(t, t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "--db", url)
		db := openDB(t, "pgx", url)
		rehearse(t, e, db, 60*time.Second, func() (restore func()) {
			pgtest.Down(t)
			return func() { pgtest.Up(t) }
		})
	})
}

func openDB(t testing.TB, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// rehearse runs `vise sim` (20 devices, 50 results/s each), takes the
// database away for outage once results flow, and checks the stored ids
// against the published ones.
func rehearse(t *testing.T, e *env, db *sql.DB, outage time.Duration, takeAway func() (restore func())) {
	sim := exec.Command(viseBin, "sim", "--devices", "20", "--results-per-sec", "50", "--device-server", e.deviceURL,
		"--duration", (outage + 15*time.Second).String(), "--drain", "5m", "-o", "json")
	sim.Env = append(sim.Environ(), "VISE_SERVER="+e.server, "VISE_DATA="+e.data, "VISE_TOKEN=")
	out := make(chan []byte, 1)
	go func() {
		b, err := sim.Output()
		if err != nil {
			t.Errorf("vise sim: %v", err)
		}
		out <- b
	}()
	stored := func() (n int) {
		db.QueryRow(`SELECT COUNT(*) FROM results WHERE component = 'vise.sim'`).Scan(&n)
		return n
	}
	e.waitFor("results to flow", 2*time.Minute, func() bool { return stored() > 0 })
	before := stored()
	restore := takeAway()
	time.Sleep(outage) // the outage itself: nothing to wait for
	restore()
	t.Logf("stored before the outage: %d", before)

	var rep SimReport
	select {
	case b := <-out:
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatalf("sim report: %v: %s", err, b)
		}
	case <-time.After(outage + 7*time.Minute):
		sim.Process.Kill()
		t.Fatal("vise sim did not finish")
	}
	rows, err := db.Query(`SELECT msg_id, COUNT(*) FROM results WHERE component = 'vise.sim' GROUP BY msg_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		rows.Scan(&id, &n)
		got[id] = n
	}
	missing, twice := 0, 0
	for i := range rep.ResultsQueued {
		switch got[fmt.Sprintf("sim-%d", i)] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	t.Logf("outage %s: published %d, stored %d distinct (missing %d, stored twice %d)", outage, rep.ResultsQueued, len(got), missing, twice)
	// At least one result per device per second of the outage, beyond
	// those stored before it: the server was offered results while its
	// database was away. (Not the nominal 50/s: a loaded machine slows the
	// simulator, and the rule here is about loss, not speed.)
	if min := before + 20*int(outage/time.Second); rep.ResultsQueued < min {
		t.Errorf("only %d results published (%d before the outage of %s, want at least %d): the rehearsal did not load the server", rep.ResultsQueued, before, outage, min)
	}
	if missing > 0 || twice > 0 || len(got) != rep.ResultsQueued {
		t.Errorf("published %d, stored %d: %d missing, %d stored twice", rep.ResultsQueued, len(got), missing, twice)
	}
}
