package store_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/store"
	"github.com/shiming-id/shiming/gateway/store/sqlite"
)

func TestJanitorSweepsWithItsClock(t *testing.T) {
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "j.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for i, exp := range []time.Duration{time.Minute, time.Hour} {
		id := []string{"soon", "later"}[i]
		must(t, s.CreateSession(ctx, store.Session{ID: id, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(exp), AbsoluteExpiresAt: t0.Add(exp)}))
		must(t, s.CreateFlow(ctx, store.Flow{ID: id, Kind: "login", CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0.Add(exp)}))
		must(t, s.Put(ctx, id, []byte("v"), t0.Add(exp)))
		_, err := s.Incr(ctx, id, 1, exp, t0)
		must(t, err)
	}

	now := t0
	j := &store.Janitor{Store: s, Now: func() time.Time { return now }}
	tests := []struct {
		name string
		now  time.Time
		want store.Swept
	}{
		{"nothing expired yet", t0.Add(time.Minute - time.Microsecond), store.Swept{}},
		{"the short-lived records", t0.Add(time.Minute), store.Swept{Sessions: 1, Flows: 1, KV: 1, Counters: 1}},
		{"already swept", t0.Add(30 * time.Minute), store.Swept{}},
		{"the rest", t0.Add(time.Hour), store.Swept{Sessions: 1, Flows: 1, KV: 1, Counters: 1}},
	}
	for _, tc := range tests {
		now = tc.now
		got, err := j.Sweep(ctx)
		must(t, err)
		if got != tc.want {
			t.Fatalf("%s: swept %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// fakeExpirer records the times it was asked about and can fail.
type fakeExpirer struct {
	mu     sync.Mutex
	times  []time.Time
	fail   error
	sweeps chan struct{}
}

func (f *fakeExpirer) record(now time.Time) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.times = append(f.times, now)
	return 1, f.fail
}

func (f *fakeExpirer) DeleteExpiredSessions(_ context.Context, now time.Time) (int, error) {
	return f.record(now)
}
func (f *fakeExpirer) DeleteExpiredFlows(_ context.Context, now time.Time) (int, error) {
	return f.record(now)
}
func (f *fakeExpirer) DeleteExpiredKV(_ context.Context, now time.Time) (int, error) {
	return f.record(now)
}
func (f *fakeExpirer) DeleteExpiredCounters(_ context.Context, now time.Time) (int, error) {
	n, err := f.record(now)
	if f.sweeps != nil {
		f.sweeps <- struct{}{}
	}
	return n, err
}

func TestJanitorSweepTriesEverything(t *testing.T) {
	boom := errors.New("disk full")
	f := &fakeExpirer{fail: boom}
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	j := &store.Janitor{Store: f, Now: func() time.Time { return at }}
	swept, err := j.Sweep(t.Context())
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the store's error", err)
	}
	if len(f.times) != 4 {
		t.Fatalf("asked %d deletions, want 4 despite the errors", len(f.times))
	}
	for _, tm := range f.times {
		if !tm.Equal(at) {
			t.Fatalf("asked about %v, want the clock's %v", tm, at)
		}
	}
	if swept != (store.Swept{Sessions: 1, Flows: 1, KV: 1, Counters: 1}) {
		t.Fatalf("swept %+v", swept)
	}
}

func TestJanitorRunLogsAndStopsWithContext(t *testing.T) {
	f := &fakeExpirer{fail: errors.New("disk full"), sweeps: make(chan struct{})}
	var logs syncBuffer
	j := &store.Janitor{
		Store:    f,
		Interval: time.Millisecond,
		Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
		Now:      func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) },
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- j.Run(ctx) }()
	<-f.sweeps // the first sweep runs at once
	<-f.sweeps // the next after the interval
	cancel()
	// Let a sweep that began before the cancel finish.
	go func() {
		for range f.sweeps {
		}
	}()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v, want nil after its context ended", err)
	}
	close(f.sweeps)
	if !strings.Contains(logs.String(), "janitor sweep failed") || !strings.Contains(logs.String(), "disk full") {
		t.Fatalf("the failed sweep was not logged: %q", logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
