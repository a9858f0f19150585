package conformance

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/store"
)

// Benchmark measures the calls on the hot path of every request:
// GetSession, TouchSession, GetFlow, UpdateFlow, PutIfAbsent and Incr,
// one caller at a time and, where replicas and requests overlap, in
// parallel. newStore must return an empty store and close it when the
// benchmark ends.
func Benchmark(b *testing.B, newStore func(b *testing.B) store.Store) {
	BenchmarkSessions(b, func(b *testing.B) store.Sessions { return newStore(b) })
	BenchmarkFlows(b, func(b *testing.B) store.Flows { return newStore(b) })
	BenchmarkKV(b, func(b *testing.B) store.KV { return newStore(b) })
	BenchmarkCounters(b, func(b *testing.B) store.Counters { return newStore(b) })
}

// BenchmarkSessions measures GetSession and TouchSession, for a store
// that keeps sessions; newStore is as for Benchmark.
func BenchmarkSessions(b *testing.B, newStore func(b *testing.B) store.Sessions) {
	ctx := context.Background()
	now := time.Now().UTC()
	later := now.Add(time.Hour)

	b.Run("GetSession", func(b *testing.B) {
		s := newStore(b)
		ss := store.Session{ID: "s", AccountID: "a", Data: make([]byte, 256), CreatedAt: now, LastSeenAt: now, ExpiresAt: later, AbsoluteExpiresAt: later}
		benchMust(b, s.CreateSession(ctx, ss))
		for b.Loop() {
			_, err := s.GetSession(ctx, ss.ID, now)
			benchMust(b, err)
		}
	})
	b.Run("GetSessionParallel", func(b *testing.B) {
		s := newStore(b)
		ss := store.Session{ID: "s", AccountID: "a", Data: make([]byte, 256), CreatedAt: now, LastSeenAt: now, ExpiresAt: later, AbsoluteExpiresAt: later}
		benchMust(b, s.CreateSession(ctx, ss))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.GetSession(ctx, ss.ID, now); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("TouchSession", func(b *testing.B) {
		s := newStore(b)
		ss := store.Session{ID: "s", AccountID: "a", Data: make([]byte, 256), CreatedAt: now, LastSeenAt: now, ExpiresAt: later, AbsoluteExpiresAt: later}
		benchMust(b, s.CreateSession(ctx, ss))
		for b.Loop() {
			benchMust(b, s.TouchSession(ctx, ss.ID, now, later))
		}
	})
}

// BenchmarkFlows measures GetFlow and UpdateFlow, for a store that keeps
// flows; newStore is as for Benchmark.
func BenchmarkFlows(b *testing.B, newStore func(b *testing.B) store.Flows) {
	ctx := context.Background()
	now := time.Now().UTC()
	later := now.Add(time.Hour)

	b.Run("GetFlow", func(b *testing.B) {
		s := newStore(b)
		f := store.Flow{ID: "f", Kind: "realname", SessionID: "s", State: make([]byte, 512), Version: 1, CreatedAt: now, UpdatedAt: now, ExpiresAt: later}
		benchMust(b, s.CreateFlow(ctx, f))
		for b.Loop() {
			_, err := s.GetFlow(ctx, f.ID, now)
			benchMust(b, err)
		}
	})
	b.Run("UpdateFlow", func(b *testing.B) {
		s := newStore(b)
		f := store.Flow{ID: "f", Kind: "realname", SessionID: "s", State: make([]byte, 512), Version: 1, CreatedAt: now, UpdatedAt: now, ExpiresAt: later}
		benchMust(b, s.CreateFlow(ctx, f))
		for b.Loop() {
			var err error
			f, err = s.UpdateFlow(ctx, f)
			benchMust(b, err)
		}
	})
	b.Run("UpdateFlowParallel", func(b *testing.B) {
		// Each goroutine advances its own flow, as concurrent candidates do.
		s := newStore(b)
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			f := store.Flow{ID: fmt.Sprintf("f%d", next.Add(1)), Kind: "realname", State: make([]byte, 512), Version: 1, CreatedAt: now, UpdatedAt: now, ExpiresAt: later}
			if err := s.CreateFlow(ctx, f); err != nil {
				b.Error(err)
				return
			}
			for pb.Next() {
				var err error
				if f, err = s.UpdateFlow(ctx, f); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkKV measures PutIfAbsent, for a store that keeps short-lived
// keys; newStore is as for Benchmark.
func BenchmarkKV(b *testing.B, newStore func(b *testing.B) store.KV) {
	ctx := context.Background()
	later := time.Now().Add(time.Hour)

	b.Run("PutIfAbsent", func(b *testing.B) {
		s := newStore(b)
		i := 0
		for b.Loop() {
			i++
			_, stored, err := s.PutIfAbsent(ctx, fmt.Sprintf("code:%d", i), []byte("result"), later)
			benchMust(b, err)
			if !stored {
				b.Fatal("a fresh key was not stored")
			}
		}
	})
	// A claim that outlived its expiry is taken again: a vendor poll
	// claimed once per interval (gateway/scan).
	b.Run("PutIfAbsentExpired", func(b *testing.B) {
		s := newStore(b)
		for b.Loop() {
			_, stored, err := s.PutIfAbsent(ctx, "claim", []byte("poll"), time.Now())
			benchMust(b, err)
			if !stored {
				b.Fatal("an expired key was not taken")
			}
		}
	})
	b.Run("PutIfAbsentTaken", func(b *testing.B) {
		s := newStore(b)
		benchMust(b, s.Put(ctx, "code", []byte("result"), later))
		for b.Loop() {
			_, stored, err := s.PutIfAbsent(ctx, "code", []byte("again"), later)
			benchMust(b, err)
			if stored {
				b.Fatal("a taken key was stored")
			}
		}
	})
}

// BenchmarkCounters measures Incr, for a store that keeps rate counters;
// newStore is as for Benchmark.
func BenchmarkCounters(b *testing.B, newStore func(b *testing.B) store.Counters) {
	ctx := context.Background()
	now := time.Now().UTC()

	b.Run("Incr", func(b *testing.B) {
		s := newStore(b)
		for b.Loop() {
			_, err := s.Incr(ctx, "sms:ip", 1, time.Minute, now)
			benchMust(b, err)
		}
	})
	b.Run("IncrParallel", func(b *testing.B) {
		s := newStore(b)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Incr(ctx, "sms:ip", 1, time.Minute, now); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// benchMust stops the benchmark on an error; only for the benchmark's
// own goroutine (RunParallel bodies report with b.Error).
func benchMust(b *testing.B, err error) {
	if err != nil {
		b.Fatal(err)
	}
}
