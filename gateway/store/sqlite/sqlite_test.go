package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/shiming-id/shiming/gateway/store"
	"github.com/shiming-id/shiming/gateway/store/conformance"
	"github.com/shiming-id/shiming/gateway/store/sqlite"
	"github.com/shiming-id/shiming/gateway/store/sqlstore"
	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/storetest"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T) store.Store { return open(t, filepath.Join(t.TempDir(), "shiming.db")) })
}

func TestRegistrationConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) registration.Store {
		return open(t, filepath.Join(t.TempDir(), "shiming.db"))
	})
}

// open opens a store at path and closes it when the test ends.
func open(t testing.TB, path string) *sqlstore.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
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
	conformance.Benchmark(b, func(b *testing.B) store.Store { return open(b, filepath.Join(b.TempDir(), "shiming.db")) })
}
