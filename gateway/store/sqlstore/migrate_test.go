package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	_ "modernc.org/sqlite"
)

// testFlavor is enough of SQLite's flavor for migration tests (the real
// one lives in store/sqlite, which imports this package).
func testFlavor() Flavor {
	never := func(error) bool { return false }
	return Flavor{Name: "sqlite", TimeAsMicros: true, IsUniqueViolation: never, IsForeignKeyViolation: never}
}

func rawDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func migrations(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys["migrations/sqlite/"+name] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

func version(t *testing.T, db *sql.DB) int {
	t.Helper()
	v, err := schemaVersion(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestMigrateInOrderOnceAndAtomically(t *testing.T) {
	ctx := t.Context()
	db := rawDB(t)
	cfg := Config{Flavor: testFlavor(), DB: db}
	v1 := migrations(map[string]string{"0001_a.sql": `CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);`})
	if _, err := newStore(ctx, cfg, v1); err != nil {
		t.Fatal(err)
	}
	if got := version(t, db); got != 1 {
		t.Fatalf("version %d, want 1", got)
	}

	// A failing migration leaves neither its tables nor its row.
	broken := migrations(map[string]string{
		"0001_a.sql": `CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);`,
		"0002_b.sql": `CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);`,
	})
	_, err := newStore(ctx, cfg, broken)
	if err == nil || !strings.Contains(err.Error(), "0002_b.sql") {
		t.Fatalf("broken migration: got %v, want an error naming 0002_b.sql", err)
	}
	if got := version(t, db); got != 1 {
		t.Fatalf("version after a failed migration %d, want 1", got)
	}
	if tableExists(t, db, "b") {
		t.Fatal("the failed migration's table exists")
	}

	// Fixed, it applies; applied again, nothing runs twice (0001 would
	// insert a second row).
	fixed := migrations(map[string]string{
		"0001_a.sql": `CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);`,
		"0002_b.sql": `CREATE TABLE b (x INTEGER);`,
		"0010_c.sql": `CREATE TABLE c (x INTEGER);`,
	})
	for range 2 {
		s, err := newStore(ctx, cfg, fixed)
		if err != nil {
			t.Fatal(err)
		}
		if got := version(t, db); got != 10 || s.SchemaVersion() != 10 {
			t.Fatalf("version %d, binary %d, want 10", got, s.SchemaVersion())
		}
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var rows int
	if err := db.QueryRow(`SELECT COUNT(*) FROM a`).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("0001 ran %d times (%v), want once", rows, err)
	}
	var applied int
	if err := db.QueryRow(`SELECT COUNT(*) FROM schema_migrations WHERE applied_at <> ''`).Scan(&applied); err != nil || applied != 3 {
		t.Fatalf("schema_migrations has %d rows (%v), want 3", applied, err)
	}

	// An older binary refuses the newer database.
	_, err = newStore(ctx, cfg, v1)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("older binary: got %v, want ErrSchemaTooNew", err)
	}
}

func TestPingChecksSchemaVersion(t *testing.T) {
	ctx := t.Context()
	db := rawDB(t)
	s, err := newStore(ctx, Config{Flavor: testFlavor(), DB: db}, migrations(map[string]string{"0001_a.sql": `CREATE TABLE a (x INTEGER);`}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (2, 'x', 'now')`); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); !errors.Is(err, ErrSchemaMismatch) {
		t.Fatalf("Ping with a newer schema: got %v, want ErrSchemaMismatch", err)
	}
}

func TestLoadMigrationsRejects(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"no migrations", map[string]string{}},
		{"stray file", map[string]string{"0001_a.sql": "", "README.md": ""}},
		{"unnumbered", map[string]string{"core.sql": ""}},
		{"duplicate number", map[string]string{"0001_a.sql": "", "0001_b.sql": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := loadMigrations(migrations(tc.files), "sqlite"); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// Both flavors must know the same migrations, so one binary has one
// schema version whatever the database.
func TestEmbeddedMigrationsMatch(t *testing.T) {
	names := map[string][]string{}
	for _, flavor := range []string{"sqlite", "postgres"} {
		migs, err := loadMigrations(migrationFS, flavor)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range migs {
			names[flavor] = append(names[flavor], m.name)
		}
		if migs[0].version != 1 {
			t.Fatalf("%s: first migration is %s", flavor, migs[0].name)
		}
	}
	if !reflect.DeepEqual(names["sqlite"], names["postgres"]) {
		t.Fatalf("migrations differ: sqlite %v, postgres %v", names["sqlite"], names["postgres"])
	}
}

func TestRebind(t *testing.T) {
	tests := []struct {
		name     string
		numbered bool
		in, want string
	}{
		{"sqlite keeps ?", false, `SELECT a FROM t WHERE b = ? AND c = ?`, `SELECT a FROM t WHERE b = ? AND c = ?`},
		{"postgres numbers", true, `SELECT a FROM t WHERE b = ? AND c = ?`, `SELECT a FROM t WHERE b = $1 AND c = $2`},
		{"no placeholders", true, `SELECT 1`, `SELECT 1`},
		{"twelve", true, strings.Repeat("?,", 11) + "?", "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Store{flavor: Flavor{NumberedPlaceholders: tc.numbered}}
			for range 2 { // the second answer comes from the cache
				if got := s.Rebind(tc.in); got != tc.want {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			}
		})
	}
}
