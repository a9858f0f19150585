package redisstore_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/shiming-id/shiming/gateway/store"
	"github.com/shiming-id/shiming/gateway/store/redisstore"
)

// The tests in this file need no server: they run on miniredis, an
// in-process fake whose clock the test moves, to check key names and
// lifetimes exactly. The conformance suite runs on a real redis-server
// (redisstore_test.go), since a fake is no proof of Redis's semantics.

// fakeOpen opens a store on a fresh miniredis.
func fakeOpen(t *testing.T, opts redisstore.Options) (*redisstore.Store, *miniredis.Miniredis) {
	t.Helper()
	mr := miniredis.RunT(t)
	s, err := redisstore.Open(t.Context(), "redis://"+mr.Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, mr
}

func TestOpenErrors(t *testing.T) {
	closed := miniredis.RunT(t)
	closedURL := "redis://" + closed.Addr() + "?max_retries=-1"
	closed.Close()
	tests := []struct {
		name string
		url  string
	}{
		{"unknown scheme", "http://127.0.0.1:6379"},
		{"malformed, with a password", "redis://user:s3cret@[::1"},
		{"nobody listening", closedURL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := redisstore.Open(t.Context(), tc.url, redisstore.Options{})
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

func TestPing(t *testing.T) {
	s, mr := fakeOpen(t, redisstore.Options{})
	must(t, s.Ping(t.Context()))
	mr.Close()
	if err := s.Ping(t.Context()); err == nil {
		t.Fatal("Ping succeeded with the server gone")
	}
}

func TestDefaultPrefix(t *testing.T) {
	s, mr := fakeOpen(t, redisstore.Options{})
	ctx := t.Context()
	now := time.Now()
	must(t, s.CreateSession(ctx, store.Session{ID: "s", AccountID: "a", ExpiresAt: now.Add(time.Minute), AbsoluteExpiresAt: now.Add(time.Hour)}))
	must(t, s.CreateFlow(ctx, store.Flow{ID: "f", ExpiresAt: now.Add(time.Minute)}))
	must(t, s.Put(ctx, "k", []byte("v"), now.Add(time.Minute)))
	_, err := s.Incr(ctx, "c", 1, time.Minute, now)
	must(t, err)
	keys := mr.Keys()
	if len(keys) == 0 {
		t.Fatal("no keys written")
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, redisstore.DefaultPrefix) {
			t.Errorf("key %q lacks the default prefix %q", k, redisstore.DefaultPrefix)
		}
	}
}

// A minute and an hour that start at the same instant are two counters.
func TestWindowLengthsApart(t *testing.T) {
	s, _ := fakeOpen(t, redisstore.Options{})
	ctx := t.Context()
	nine := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	_, err := s.Incr(ctx, "k", 1, time.Minute, nine)
	must(t, err)
	_, err = s.Incr(ctx, "k", 5, time.Hour, nine)
	must(t, err)
	for _, c := range []struct {
		length time.Duration
		want   int64
	}{{time.Minute, 1}, {time.Hour, 5}} {
		got, err := s.Count(ctx, "k", c.length, nine)
		must(t, err)
		if got != c.want {
			t.Errorf("Count in the %v window = %d, want %d", c.length, got, c.want)
		}
	}
}

// Redis keeps each record until it expires by the store's clock plus the
// grace, the indexes as long as what they index, and forgets them after.
func TestKeyLifetimes(t *testing.T) {
	// An injected clock far from the real one: lifetimes follow it.
	t0 := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	const grace = 2 * time.Minute
	const prefix = "p:"
	s, mr := fakeOpen(t, redisstore.Options{Prefix: prefix, Now: func() time.Time { return t0 }, Grace: grace})
	ctx := t.Context()
	session := store.Session{ID: "s", AccountID: "acct", CreatedAt: t0, LastSeenAt: t0,
		ExpiresAt: t0.Add(30 * time.Minute), AbsoluteExpiresAt: t0.Add(time.Hour)}

	steps := []struct {
		name  string
		write func() error
		want  map[string]time.Duration // key -> lifetime
	}{
		{"session", func() error { return s.CreateSession(ctx, session) },
			map[string]time.Duration{"p:sess:s": 32 * time.Minute, "p:acct:acct": 32 * time.Minute}},
		{"touch", func() error { return s.TouchSession(ctx, "s", t0.Add(10*time.Minute), t0.Add(40*time.Minute)) },
			map[string]time.Duration{"p:sess:s": 42 * time.Minute, "p:acct:acct": 42 * time.Minute}},
		{"touch past the absolute expiry", func() error { return s.TouchSession(ctx, "s", t0.Add(50*time.Minute), t0.Add(80*time.Minute)) },
			map[string]time.Duration{"p:sess:s": 62 * time.Minute, "p:acct:acct": 62 * time.Minute}},
		{"flow", func() error {
			return s.CreateFlow(ctx, store.Flow{ID: "f", Version: 1, ExpiresAt: t0.Add(15 * time.Minute)})
		},
			map[string]time.Duration{"p:flow:f": 17 * time.Minute}},
		{"flow update", func() error {
			_, err := s.UpdateFlow(ctx, store.Flow{ID: "f", Version: 1, ExpiresAt: t0.Add(20 * time.Minute)})
			return err
		}, map[string]time.Duration{"p:flow:f": 22 * time.Minute}},
		{"key", func() error { return s.Put(ctx, "k", []byte("v"), t0.Add(10*time.Minute)) },
			map[string]time.Duration{"p:kv:k": 12 * time.Minute}},
		{"key already expired", func() error { return s.Put(ctx, "old", []byte("v"), t0.Add(-time.Hour)) },
			map[string]time.Duration{"p:kv:old": grace}},
		{"key in a far future, capped", func() error {
			return s.Put(ctx, "far", []byte("v"), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
		}, map[string]time.Duration{"p:kv:far": 100*365*24*time.Hour + grace}},
		{"counter", func() error { _, err := s.Incr(ctx, "c", 1, time.Minute, t0); return err },
			map[string]time.Duration{"p:ctr:c:60000000:" + micros(t0): 3 * time.Minute, "p:ctrs:c": 3 * time.Minute}},
		{"counter again keeps its lifetime", func() error { _, err := s.Incr(ctx, "c", 1, time.Minute, t0); return err },
			map[string]time.Duration{"p:ctr:c:60000000:" + micros(t0): 3 * time.Minute}},
	}
	for _, st := range steps {
		must(t, st.write())
		for key, want := range st.want {
			if got := mr.TTL(key); got != want {
				t.Errorf("%s: lifetime of %s = %v, want %v", st.name, key, got, want)
			}
		}
	}
	for _, idx := range []string{"p:idx:sess", "p:idx:flow", "p:idx:kv", "p:idx:ctr"} {
		if got := mr.TTL(idx); got != 0 {
			t.Errorf("index %s has a lifetime %v, want none", idx, got)
		}
	}

	// Past every lifetime Redis has forgotten the records; the sweeps
	// find nothing left to delete but empty the indexes.
	mr.FastForward(time.Hour + grace + time.Millisecond)
	later := t0.Add(2 * time.Hour)
	if _, err := s.GetSession(ctx, "s", t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSession after the lifetime: %v, want ErrNotFound", err)
	}
	for name, sweep := range map[string]func() (int, error){
		"sessions": func() (int, error) { return s.DeleteExpiredSessions(ctx, later) },
		"flows":    func() (int, error) { return s.DeleteExpiredFlows(ctx, later) },
		"kv":       func() (int, error) { return s.DeleteExpiredKV(ctx, later) },
		"counters": func() (int, error) { return s.DeleteExpiredCounters(ctx, later) },
	} {
		n, err := sweep()
		must(t, err)
		if n != 0 {
			t.Errorf("swept %d %s that Redis had forgotten, want 0", n, name)
		}
	}
	// All but the far-future key, which Delete removes with its index entry.
	must(t, s.Delete(ctx, "far"))
	if keys := mr.Keys(); len(keys) != 0 {
		t.Fatalf("keys left: %q", keys)
	}
}

// With no grace, a value written already expired lives a millisecond.
func TestNoGrace(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	s, mr := fakeOpen(t, redisstore.Options{Prefix: "p:", Now: func() time.Time { return t0 }, Grace: -1})
	must(t, s.Put(t.Context(), "old", []byte("v"), t0.Add(-time.Hour)))
	must(t, s.Put(t.Context(), "new", []byte("v"), t0.Add(time.Minute)))
	for key, want := range map[string]time.Duration{"p:kv:old": time.Millisecond, "p:kv:new": time.Minute} {
		if got := mr.TTL(key); got != want {
			t.Errorf("lifetime of %s = %v, want %v", key, got, want)
		}
	}
}

func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }
