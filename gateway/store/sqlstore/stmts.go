package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// maxStmts bounds the statements a pool keeps prepared. The store's
// queries are a fixed set; the bound only guards against a query built
// from data, which then runs unprepared.
const maxStmts = 256

// stmts runs queries on a pool, preparing each query once and reusing
// the statement when the flavor asks for it (Flavor.CacheStatements).
// SQLite's driver otherwise parses and plans every statement on every
// call: on the QR-status poll that was a tenth of the gateway's CPU
// (BENCHMARKS.md). It implements querier; transactions do not use it.
type stmts struct {
	db    *sql.DB
	cache bool

	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

func newStmts(db *sql.DB, cache bool) *stmts {
	return &stmts{db: db, cache: cache, m: map[string]*sql.Stmt{}}
}

// stmt returns the prepared statement of query, or nil to run it
// unprepared (cache off, cache full, or the prepare failed: the plain
// call then reports the error).
func (c *stmts) stmt(ctx context.Context, query string) *sql.Stmt {
	if !c.cache {
		return nil
	}
	c.mu.RLock()
	st, ok := c.m[query]
	n := len(c.m)
	c.mu.RUnlock()
	if ok || n >= maxStmts {
		return st
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		_ = st.Close()
		return prev
	}
	if len(c.m) >= maxStmts {
		_ = st.Close()
		return nil
	}
	c.m[query] = st
	return st
}

func (c *stmts) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.db.ExecContext(ctx, query, args...)
}

func (c *stmts) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, query, args...)
}

func (c *stmts) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := c.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, query, args...)
}

// close closes the prepared statements (before the pool itself).
func (c *stmts) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		_ = st.Close()
		delete(c.m, q)
	}
}
