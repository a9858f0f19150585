package redisstore_test

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/store"
	"github.com/shiming-id/shiming/gateway/store/conformance"
	"github.com/shiming-id/shiming/gateway/store/redisstore"
	"github.com/shiming-id/shiming/gateway/store/redisstore/redistest"
)

// These tests run against a real redis-server (SHIMING_TEST_REDIS_ADDR);
// the ones in unit_test.go use miniredis.

// testGrace keeps records in Redis long after the times the suite gives
// them: the suite dates its records in March 2026, which the real clock
// (the store's) may have passed, and judges liveness by the times it
// passes, as the SQL stores do. Every test's keys go when it ends.
const testGrace = time.Hour

// open opens a store on the test server under a fresh prefix and closes
// it when the test ends.
func open(t testing.TB, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = redistest.Prefix(t)
	}
	s, err := redisstore.Open(t.Context(), redistest.URL(t), opts)
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

func TestConformance(t *testing.T) {
	redistest.Addr(t) // skip (or, under CI, fail) once rather than per subtest
	opts := redisstore.Options{Grace: testGrace}
	conformance.RunSessions(t, func(t *testing.T) store.Sessions { return open(t, opts) })
	conformance.RunFlows(t, func(t *testing.T) store.Flows { return open(t, opts) })
	conformance.RunKV(t, func(t *testing.T) store.KV { return open(t, opts) })
	conformance.RunCounters(t, func(t *testing.T) store.Counters { return open(t, opts) })
}

func BenchmarkStore(b *testing.B) {
	redistest.Addr(b)
	conformance.BenchmarkSessions(b, func(b *testing.B) store.Sessions { return open(b, redisstore.Options{}) })
	conformance.BenchmarkFlows(b, func(b *testing.B) store.Flows { return open(b, redisstore.Options{}) })
	conformance.BenchmarkKV(b, func(b *testing.B) store.KV { return open(b, redisstore.Options{}) })
	conformance.BenchmarkCounters(b, func(b *testing.B) store.Counters { return open(b, redisstore.Options{}) })
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Two stores on one prefix are two replicas: what one writes, the other
// sees, and ending an account's sessions on one ends those the other made.
func TestReplicasShareState(t *testing.T) {
	ctx := t.Context()
	prefix := redistest.Prefix(t)
	a, b := open(t, redisstore.Options{Prefix: prefix}), open(t, redisstore.Options{Prefix: prefix})
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i, s := range []*redisstore.Store{a, b, a} {
		must(t, s.CreateSession(ctx, store.Session{
			ID: fmt.Sprintf("s%d", i), AccountID: "acct-1", CreatedAt: now, LastSeenAt: now,
			ExpiresAt: now.Add(30 * time.Minute), AbsoluteExpiresAt: now.Add(8 * time.Hour),
		}))
	}
	if _, err := b.GetSession(ctx, "s0", now); err != nil {
		t.Fatalf("a session made on one replica is not seen on another: %v", err)
	}
	n, err := b.DeleteAccountSessions(ctx, "acct-1")
	must(t, err)
	if n != 3 {
		t.Fatalf("DeleteAccountSessions ended %d sessions, want 3", n)
	}
	for _, id := range []string{"s0", "s1", "s2"} {
		if _, err := a.GetSession(ctx, id, now); err == nil {
			t.Fatalf("session %s outlived DeleteAccountSessions on another replica", id)
		}
	}

	_, stored, err := a.PutIfAbsent(ctx, "code", []byte("first"), now.Add(time.Minute))
	must(t, err)
	existing, again, err := b.PutIfAbsent(ctx, "code", []byte("second"), now.Add(time.Minute))
	must(t, err)
	if !stored || again || !bytes.Equal(existing, []byte("first")) {
		t.Fatalf("PutIfAbsent across replicas: stored=%v, then stored=%v existing=%q", stored, again, existing)
	}
}

// TouchSession never overwrites data that a concurrent UpdateSession
// saved: whatever the order, the session ends with the update's data.
func TestTouchKeepsConcurrentData(t *testing.T) {
	ctx := t.Context()
	s := open(t, redisstore.Options{})
	now := time.Now().UTC().Truncate(time.Microsecond)
	ss := store.Session{ID: "s", AccountID: "acct-1", Data: []byte("old"), CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(30 * time.Minute), AbsoluteExpiresAt: now.Add(8 * time.Hour)}
	must(t, s.CreateSession(ctx, ss))
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Go(func() {
			errs <- s.TouchSession(ctx, ss.ID, now.Add(time.Duration(i)*time.Second), now.Add(31*time.Minute))
		})
	}
	updated := ss
	updated.Data = []byte("new")
	wg.Go(func() { errs <- s.UpdateSession(ctx, updated) })
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	got, err := s.GetSession(ctx, ss.ID, now)
	must(t, err)
	if !bytes.Equal(got.Data, []byte("new")) {
		t.Fatalf("data after concurrent touches: %q, want the update's", got.Data)
	}
}

// Once everything has expired and been swept, or been deleted, no key is
// left under the prefix: the indexes clean up after themselves.
func TestLeavesNothingBehind(t *testing.T) {
	ctx := t.Context()
	prefix := redistest.Prefix(t)
	s := open(t, redisstore.Options{Prefix: prefix})
	now := time.Now().UTC()
	for i := range 3 {
		id := fmt.Sprintf("s%d", i)
		must(t, s.CreateSession(ctx, store.Session{ID: id, AccountID: "acct-1", CreatedAt: now, LastSeenAt: now,
			ExpiresAt: now.Add(time.Minute), AbsoluteExpiresAt: now.Add(time.Hour)}))
		must(t, s.TouchSession(ctx, id, now, now.Add(2*time.Minute)))
		must(t, s.CreateFlow(ctx, store.Flow{ID: fmt.Sprintf("f%d", i), Kind: "realname", Version: 1, ExpiresAt: now.Add(time.Minute)}))
		must(t, s.Put(ctx, fmt.Sprintf("k%d", i), []byte("v"), now.Add(time.Minute)))
		_, err := s.Incr(ctx, fmt.Sprintf("c%d", i), 1, time.Minute, now)
		must(t, err)
		_, err = s.Incr(ctx, fmt.Sprintf("c%d", i), 1, time.Hour, now)
		must(t, err)
	}
	// An anonymous session that signs in moves from no account to one.
	must(t, s.CreateSession(ctx, store.Session{ID: "anon", CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(time.Minute), AbsoluteExpiresAt: now.Add(time.Hour)}))
	must(t, s.UpdateSession(ctx, store.Session{ID: "anon", AccountID: "acct-2", LastSeenAt: now,
		ExpiresAt: now.Add(time.Minute), AbsoluteExpiresAt: now.Add(time.Hour)}))
	if keys := redistest.Keys(t, prefix); len(keys) == 0 {
		t.Fatal("nothing was written under the prefix")
	}

	must(t, s.DeleteSession(ctx, "s0"))
	must(t, s.DeleteFlow(ctx, "f0"))
	must(t, s.Delete(ctx, "k0"))
	must(t, s.Reset(ctx, "c0"))
	later := now.Add(2 * time.Hour)
	for name, sweep := range map[string]func() (int, error){
		"sessions": func() (int, error) { return s.DeleteExpiredSessions(ctx, later) },
		"flows":    func() (int, error) { return s.DeleteExpiredFlows(ctx, later) },
		"kv":       func() (int, error) { return s.DeleteExpiredKV(ctx, later) },
		"counters": func() (int, error) { return s.DeleteExpiredCounters(ctx, later) },
	} {
		n, err := sweep()
		must(t, err)
		want := map[string]int{"sessions": 3, "flows": 2, "kv": 2, "counters": 4}[name]
		if n != want {
			t.Errorf("swept %d %s, want %d", n, name, want)
		}
	}
	if keys := redistest.Keys(t, prefix); len(keys) != 0 {
		slices.Sort(keys)
		t.Fatalf("keys left behind: %q", keys)
	}
}

// A session that changes hands (sign-in, or a switch of account) leaves
// the old account's set, so ending the old account's sessions spares it.
func TestSessionChangesAccount(t *testing.T) {
	ctx := t.Context()
	s := open(t, redisstore.Options{})
	now := time.Now().UTC().Truncate(time.Microsecond)
	ss := store.Session{ID: "s", CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(30 * time.Minute), AbsoluteExpiresAt: now.Add(8 * time.Hour)}
	must(t, s.CreateSession(ctx, ss))
	for _, owner := range []string{"acct-1", "acct-2"} {
		ss.AccountID = owner
		must(t, s.UpdateSession(ctx, ss))
	}
	for _, c := range []struct {
		account string
		want    int
	}{{"acct-1", 0}, {"acct-2", 1}} {
		n, err := s.DeleteAccountSessions(ctx, c.account)
		must(t, err)
		if n != c.want {
			t.Errorf("DeleteAccountSessions(%s) = %d, want %d", c.account, n, c.want)
		}
	}
	if _, err := s.GetSession(ctx, ss.ID, now); err == nil {
		t.Fatal("the session outlived its account's DeleteAccountSessions")
	}
}
