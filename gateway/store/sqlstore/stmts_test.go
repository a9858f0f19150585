package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestStmtsPrepareOnce(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		cache    bool
		prepared int
	}{
		{"cache on: one statement per query", true, 2},
		{"cache off: nothing kept", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newStmts(openSQLite(t), tt.cache)
			for i := range 3 {
				if _, err := c.ExecContext(ctx, `INSERT INTO t (k, v) VALUES (?, ?)`, fmt.Sprint(i), i); err != nil {
					t.Fatal(err)
				}
				var v int
				if err := c.QueryRowContext(ctx, `SELECT v FROM t WHERE k = ?`, fmt.Sprint(i)).Scan(&v); err != nil || v != i {
					t.Fatalf("read back %d: %v", v, err)
				}
			}
			rows, err := c.QueryContext(ctx, `SELECT v FROM t WHERE k = ?`, "2")
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			if err := rows.Close(); err != nil || n != 1 {
				t.Fatalf("rows %d, %v", n, err)
			}
			if len(c.m) != tt.prepared {
				t.Errorf("%d statements kept, want %d", len(c.m), tt.prepared)
			}
			c.close()
			if len(c.m) != 0 {
				t.Errorf("%d statements left after close", len(c.m))
			}
		})
	}
}

func TestStmtsBadQueryReportsItsError(t *testing.T) {
	c := newStmts(openSQLite(t), true)
	var v int
	err := c.QueryRowContext(context.Background(), `SELECT nope FROM t WHERE k = ?`, "x").Scan(&v)
	if err == nil {
		t.Fatal("a query on a missing column succeeded")
	}
	if _, err := c.ExecContext(context.Background(), `INSERT INTO missing VALUES (?)`, 1); err == nil {
		t.Fatal("an insert into a missing table succeeded")
	}
	if len(c.m) != 0 {
		t.Errorf("failed queries were kept: %d", len(c.m))
	}
}

func TestStmtsBounded(t *testing.T) {
	ctx := context.Background()
	c := newStmts(openSQLite(t), true)
	for i := range maxStmts + 5 {
		var v int
		err := c.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&v)
		if err != nil || v != i {
			t.Fatalf("query %d: %d, %v", i, v, err)
		}
	}
	if len(c.m) != maxStmts {
		t.Errorf("%d statements kept, want the bound %d", len(c.m), maxStmts)
	}
	c.close()
}
