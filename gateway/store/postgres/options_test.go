package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/shiming-id/shiming/gateway/store/postgres"
	"github.com/shiming-id/shiming/gateway/store/postgres/pgtest"
)

func TestStatementTimeout(t *testing.T) {
	s, err := postgres.Open(t.Context(), pgtest.DSN(t), postgres.Options{StatementTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.DB().ExecContext(t.Context(), `SELECT pg_sleep(30)`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Fatalf("a statement past the timeout: got %v, want query_canceled (57014)", err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("short statements still run: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	tests := []struct{ name, dsn string }{
		{"unparsable", "postgres://%zz"},
		{"nobody listening", "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := postgres.Open(t.Context(), tc.dsn, postgres.Options{}); err == nil {
				_ = s.Close()
				t.Fatal("no error")
			}
		})
	}
}
