package postgres_test

import (
	"testing"

	"github.com/shiming-id/shiming/gateway/store"
	"github.com/shiming-id/shiming/gateway/store/conformance"
	"github.com/shiming-id/shiming/gateway/store/postgres"
	"github.com/shiming-id/shiming/gateway/store/postgres/pgtest"
	"github.com/shiming-id/shiming/gateway/store/sqlstore"
	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/storetest"
)

func TestConformance(t *testing.T) {
	pgtest.ServerDSN(t) // skip (or, under CI, fail) once rather than per subtest
	conformance.Run(t, func(t *testing.T) store.Store { return open(t, pgtest.DSN(t)) })
}

func TestRegistrationConformance(t *testing.T) {
	pgtest.ServerDSN(t)
	storetest.Run(t, func(t *testing.T) registration.Store { return open(t, pgtest.DSN(t)) })
}

// open opens a store on dsn and closes it when the test ends.
func open(t testing.TB, dsn string) *sqlstore.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn, postgres.Options{MaxOpenConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func BenchmarkStore(b *testing.B) {
	pgtest.ServerDSN(b)
	conformance.Benchmark(b, func(b *testing.B) store.Store { return open(b, pgtest.DSN(b)) })
}
