package store

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStatements bounds the read statement cache. The store's read
// queries are constant strings (a few dozen), so the bound is only a guard
// against a query text built from its arguments ever filling memory.
const maxCachedStatements = 256

// stmtCache keeps one prepared statement per read query text on the SQLite
// reader pool. Without it every read parses its SQL anew, and the hottest
// read, the device authorization run on every device HTTPS request, spent
// as much CPU parsing as executing during a rollout (decision 0028).
// database/sql prepares a cached statement on each pool connection the
// first time it runs there; SQLite resets it when its rows are closed, so
// a cached statement holds no read transaction open between uses.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, m: map[string]*sql.Stmt{}}
}

// get returns the statement for q, preparing it the first time; nil when it
// cannot (the cache is full, or the database refused it: the caller then
// runs q unprepared and gets the database's error the usual way).
func (c *stmtCache) get(ctx context.Context, q string) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.m[q]
	full := len(c.m) >= maxCachedStatements
	c.mu.Unlock()
	if ok || full {
		return st
	}
	// Prepared outside the lock: two goroutines may both prepare a new
	// query; the loser closes its copy.
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[q]; ok {
		st.Close()
		return prev
	}
	c.m[q] = st
	return st
}

// close closes every cached statement; the store closes its pools after.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

func (c *stmtCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
