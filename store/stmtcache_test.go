package store

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
)

// TestReadStatementCache: a read query is prepared once and reused, a
// reused statement sees what was written since, and a full cache still
// answers (unprepared) without growing.
func TestReadStatementCache(t *testing.T) {
	ctx := context.Background()
	s := openSQLite(t)
	for i, name := range []string{"alice", "bob"} {
		if _, err := s.CreateUser(ctx, name, "admin", "hash", "test"); err != nil {
			t.Fatal(err)
		}
		u, err := s.GetUser(ctx, name) // the same query text each time
		if err != nil {
			t.Fatalf("get %s through the cached statement: %v", name, err)
		}
		if u.Name != name {
			t.Fatalf("round %d: got user %q, want %q", i, u.Name, name)
		}
	}
	if got := s.stmts.len(); got != 1 {
		t.Fatalf("cached statements after one query text read twice = %d, want 1", got)
	}

	for i := s.stmts.len(); i < maxCachedStatements; i++ {
		if s.stmts.get(ctx, "SELECT "+strconv.Itoa(i)) == nil {
			t.Fatalf("statement %d not cached before the cache is full", i)
		}
	}
	var got int
	if err := s.queryRow(ctx, `SELECT 40 + ?`, 2).Scan(&got); err != nil || got != 42 {
		t.Fatalf("read with a full cache = %d, %v; want 42", got, err)
	}
	if n := s.stmts.len(); n != maxCachedStatements {
		t.Fatalf("cache grew past its bound: %d statements, want %d", n, maxCachedStatements)
	}
}

// BenchmarkDeviceCertificate is the read every device HTTPS request makes
// (its authorization), through the statement cache and without it; the
// ratio of the two ns/op figures is what the cache saves per request.
func BenchmarkDeviceCertificate(b *testing.B) {
	ctx := context.Background()
	s := openSQLite(b)
	if _, err := s.w.ExecContext(ctx, `INSERT INTO devices (name, created_at, cert_serial) VALUES ('cam-1', 0, '01')`); err != nil {
		b.Fatal(err)
	}
	cache := s.stmts
	for _, bc := range []struct {
		name  string
		cache *stmtCache
	}{{"prepared", cache}, {"unprepared", nil}} {
		b.Run(bc.name, func(b *testing.B) {
			s.stmts = bc.cache
			for b.Loop() {
				if _, _, err := s.DeviceCertificate(ctx, "cam-1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	s.stmts = cache
}

// openSQLite is a new SQLite store in a temporary directory, closed with
// the test.
func openSQLite(tb testing.TB) *Store {
	s, err := Open(context.Background(), Options{URL: filepath.Join(tb.TempDir(), "vise.db")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}
