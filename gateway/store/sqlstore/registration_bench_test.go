package sqlstore_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/store/postgres"
	"github.com/shiming-id/shiming/gateway/store/postgres/pgtest"
	"github.com/shiming-id/shiming/gateway/store/sqlite"
	"github.com/shiming-id/shiming/gateway/store/sqlstore"
	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/catalog"
)

// benchBackends open an empty store, closed when the benchmark ends.
var benchBackends = []struct {
	name string
	open func(b *testing.B) *sqlstore.Store
}{
	{"sqlite", func(b *testing.B) *sqlstore.Store {
		return benchOpen(b)(sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "shiming.db"), sqlite.Options{}))
	}},
	{"postgres", func(b *testing.B) *sqlstore.Store {
		return benchOpen(b)(postgres.Open(b.Context(), pgtest.DSN(b), postgres.Options{MaxOpenConns: 8}))
	}},
}

func benchOpen(b *testing.B) func(*sqlstore.Store, error) *sqlstore.Store {
	return func(s *sqlstore.Store, err error) *sqlstore.Store {
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		c, err := catalog.Sample()
		if err != nil {
			b.Fatal(err)
		}
		if err := s.ImportCatalog(b.Context(), c); err != nil {
			b.Fatal(err)
		}
		return s
	}
}

// benchApps creates n applications at StepConfirm, spread over the
// sample's positions, and returns their account ids. When mixed, every
// third one stands at a failed review instead.
func benchApps(b *testing.B, s *sqlstore.Store, n int, mixed bool) []string {
	b.Helper()
	positions, err := s.Catalog(b.Context(), sampleExam)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("acct-%07d", i)
		a := confirmApp(ids[i], positions.Positions[i%len(positions.Positions)].Code)
		if mixed && i%3 == 0 {
			a.Step, a.Review.Outcome = registration.StepReviewFailed, registration.OutcomeFailed
		}
		if _, err := s.CreateApplication(b.Context(), a); err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// BenchmarkRegistration measures the registration calls under load on the
// last day of a registration window: Submit (one caller and many, which
// share the exam's counter), a replayed Submit, and the daily
// PositionCounts over a few thousand applications.
func BenchmarkRegistration(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			if be.name == "postgres" {
				pgtest.ServerDSN(b)
			}
			b.Run("Submit", func(b *testing.B) {
				s := be.open(b)
				ids := benchApps(b, s, b.N, false)
				now := time.Now()
				b.ResetTimer()
				for i := range b.N {
					if _, _, err := s.Submit(b.Context(), sampleExam, ids[i], now); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("SubmitParallel", func(b *testing.B) {
				s := be.open(b)
				ids := benchApps(b, s, b.N, false)
				now := time.Now()
				var next atomic.Int64
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						id := ids[next.Add(1)-1]
						if _, _, err := s.Submit(b.Context(), sampleExam, id, now); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			b.Run("SubmitReplayed", func(b *testing.B) {
				s := be.open(b)
				id := benchApps(b, s, 1, false)[0]
				now := time.Now()
				for b.Loop() {
					if _, _, err := s.Submit(b.Context(), sampleExam, id, now); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("PositionCounts", func(b *testing.B) {
				s := be.open(b)
				ids := benchApps(b, s, 3000, true)
				for _, id := range ids[1:1000] {
					if _, _, err := s.Submit(b.Context(), sampleExam, id, time.Now()); err != nil && !isWrongStep(err) {
						b.Fatal(err)
					}
				}
				for b.Loop() {
					counts, err := s.PositionCounts(b.Context(), sampleExam)
					if err != nil || len(counts) == 0 {
						b.Fatal(counts, err)
					}
				}
			})
		})
	}
}

// isWrongStep is the error of submitting an application benchApps left
// at a failed review.
func isWrongStep(err error) bool { return errors.Is(err, registration.ErrWrongStep) }
