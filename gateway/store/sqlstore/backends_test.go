package sqlstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/store"
	"github.com/shiming-id/shiming/gateway/store/postgres"
	"github.com/shiming-id/shiming/gateway/store/postgres/pgtest"
	"github.com/shiming-id/shiming/gateway/store/sqlite"
	"github.com/shiming-id/shiming/gateway/store/sqlstore"
)

// backend opens stores on one kind of database; target names a fresh,
// empty database the test may open several times.
type backend struct {
	name   string
	target func(t *testing.T) string
	open   func(ctx context.Context, target string) (*sqlstore.Store, error)
}

var backends = []backend{
	{
		name:   "sqlite",
		target: func(t *testing.T) string { return filepath.Join(t.TempDir(), "shiming.db") },
		open: func(ctx context.Context, path string) (*sqlstore.Store, error) {
			return sqlite.Open(ctx, path, sqlite.Options{})
		},
	},
	{
		name:   "postgres",
		target: func(t *testing.T) string { return pgtest.DSN(t) },
		open: func(ctx context.Context, dsn string) (*sqlstore.Store, error) {
			return postgres.Open(ctx, dsn, postgres.Options{MaxOpenConns: 4})
		},
	},
}

// forEach runs test once per backend.
func forEach(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			test(t, b)
		})
	}
}

func mustOpen(t *testing.T, b backend, target string) *sqlstore.Store {
	t.Helper()
	s, err := b.open(t.Context(), target)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		target := b.target(t)
		s := mustOpen(t, b, target)
		if _, err := s.AppendAudit(ctx, store.AuditRecord{Time: time.Now(), Kind: "operator", Actor: "system"}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = mustOpen(t, b, target)
		defer s.Close()
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		r, err := s.AppendAudit(ctx, store.AuditRecord{Time: time.Now(), Kind: "operator", Actor: "system"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Seq != 2 {
			t.Fatalf("Seq after reopening %d, want 2", r.Seq)
		}
		var n int
		if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != s.SchemaVersion() {
			t.Fatalf("schema_migrations has %d rows, want %d", n, s.SchemaVersion())
		}
	})
}

func TestNewerSchemaRefused(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		target := b.target(t)
		s := mustOpen(t, b, target)
		_, err := s.DB().ExecContext(ctx, s.Rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
			s.SchemaVersion()+1, "9999_from_the_future.sql", "2030-01-01T00:00:00Z")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(ctx); !errors.Is(err, sqlstore.ErrSchemaMismatch) {
			t.Fatalf("Ping: got %v, want ErrSchemaMismatch", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = b.open(ctx, target)
		if !errors.Is(err, sqlstore.ErrSchemaTooNew) {
			if s != nil {
				_ = s.Close()
			}
			t.Fatalf("Open: got %v, want ErrSchemaTooNew", err)
		}
	})
}

// Replicas starting together migrate once between them.
func TestConcurrentOpen(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		target := b.target(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				s, err := b.open(t.Context(), target)
				if err == nil {
					err = s.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAuditIsAppendOnly(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		s := mustOpen(t, b, b.target(t))
		defer s.Close()
		if _, err := s.AppendAudit(ctx, store.AuditRecord{Time: time.Now(), Kind: "login", Actor: "a"}); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{`UPDATE audit SET actor = 'b'`, `DELETE FROM audit`} {
			if _, err := s.DB().ExecContext(ctx, q); err == nil {
				t.Fatalf("%s: no error", q)
			}
		}
		recs, err := s.ListAudit(ctx, 0, 10)
		if err != nil || len(recs) != 1 || recs[0].Actor != "a" {
			t.Fatalf("audit after refused changes: %+v, %v", recs, err)
		}
	})
}
