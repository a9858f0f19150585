package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shiming-id/shiming/gateway/store/sqlite"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// testKey stands in for the gateway's keyed hash of stored keys.
func testKey(k string) string {
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:])
}

func newLimiter(t *testing.T) (*Limiter, *clock) {
	t.Helper()
	c := &clock{now: time.Date(2026, 2, 27, 9, 0, 30, 0, time.UTC)}
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/r.db", sqlite.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := New(Options{Counters: st, KV: st, Now: c.Now, Registerer: prometheus.NewRegistry(), Key: testKey,
		Names: []string{"sms_phone", RulePasswordIP, RuleLockout, RuleDelay}})
	if err != nil {
		t.Fatal(err)
	}
	return l, c
}

func TestTake(t *testing.T) {
	ctx := context.Background()
	l, c := newLimiter(t)
	rule := Rule{Name: "sms_phone", Limit: 3, Window: time.Minute}
	for i := range 3 {
		if d, err := l.Take(ctx, "p1", rule); err != nil || !d.Allowed {
			t.Fatalf("event %d refused: %+v %v", i, d, err)
		}
	}
	d, _ := l.Take(ctx, "p1", rule)
	if d.Allowed || d.RetryAfter != 30*time.Second || d.Rule != "sms_phone" {
		t.Fatalf("fourth event = %+v", d)
	}
	if d, _ := l.Take(ctx, "p2", rule); !d.Allowed {
		t.Fatal("another key was limited")
	}
	c.Add(30 * time.Second)
	if d, _ := l.Take(ctx, "p1", rule); !d.Allowed {
		t.Fatal("new window still limited")
	}
	if got := testutil.ToFloat64(l.limited.WithLabelValues("sms_phone")); got != 1 {
		t.Fatalf("limited counter = %v", got)
	}
}

// TestTakeWithOffset checks a day window at UTC+8: it turns at midnight
// in China (16:00 UTC), not at midnight UTC, and says how long is left
// until then; Peek sees the same window.
func TestTakeWithOffset(t *testing.T) {
	ctx := context.Background()
	l, c := newLimiter(t)
	c.Add(6*time.Hour + 29*time.Minute + 30*time.Second) // 09:00:30 → 15:30 UTC, 23:30 in China
	rule := Rule{Name: "sms_phone", Limit: 1, Window: 24 * time.Hour, Offset: 8 * time.Hour}
	if d, err := l.Take(ctx, "p1", rule); err != nil || !d.Allowed {
		t.Fatalf("first event refused: %+v %v", d, err)
	}
	d, _ := l.Take(ctx, "p1", rule)
	if d.Allowed || d.RetryAfter != 30*time.Minute {
		t.Fatalf("second event before midnight in China = %+v, want refused for 30m", d)
	}
	c.Add(31 * time.Minute) // 00:01 in China, still the same UTC day
	if d, err := l.Peek(ctx, "p1", rule); err != nil || !d.Allowed || d.Count != 0 {
		t.Fatalf("Peek after midnight in China = %+v %v, want a fresh window", d, err)
	}
	if d, _ := l.Take(ctx, "p1", rule); !d.Allowed {
		t.Fatal("the window did not turn at midnight in China")
	}
	c.Add(8 * time.Hour) // midnight UTC: the same day in China
	if d, _ := l.Take(ctx, "p1", rule); d.Allowed {
		t.Fatal("the window turned at midnight UTC")
	}
}

// TestKeysAreStoredThroughKey checks that a client address reaches the
// store only through Options.Key, for counters and cooldowns alike.
func TestKeysAreStoredThroughKey(t *testing.T) {
	ctx := context.Background()
	l, c := newLimiter(t)
	rule := Rule{Name: "sms_phone", Limit: 5, Window: time.Hour}
	const ip = "10.1.2.3"
	if _, err := l.Take(ctx, ip, rule); err != nil {
		t.Fatal(err)
	}
	if n, err := l.counters.Count(ctx, "sms_phone:"+ip, time.Hour, c.Now()); err != nil || n != 0 {
		t.Fatalf("the plain address counts %d (%v)", n, err)
	}
	if n, err := l.counters.Count(ctx, "sms_phone:"+testKey(ip), time.Hour, c.Now()); err != nil || n != 1 {
		t.Fatalf("the hashed address counts %d (%v), want 1", n, err)
	}
	if _, err := l.Cooldown(ctx, "sms_resend", ip, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := l.kv.Get(ctx, "cooldown:sms_resend:"+testKey(ip), c.Now()); err != nil {
		t.Fatalf("the cooldown is not under the hashed address: %v", err)
	}
	if _, err := l.kv.Get(ctx, "cooldown:sms_resend:"+ip, c.Now()); err == nil {
		t.Fatal("the cooldown is under the plain address")
	}
}

func TestCooldown(t *testing.T) {
	ctx := context.Background()
	l, c := newLimiter(t)
	if d, _ := l.Cooldown(ctx, "sms_resend", "p1", time.Minute); !d.Allowed {
		t.Fatal("first send refused")
	}
	c.Add(20 * time.Second)
	d, _ := l.Cooldown(ctx, "sms_resend", "p1", time.Minute)
	if d.Allowed || d.RetryAfter != 40*time.Second {
		t.Fatalf("resend = %+v", d)
	}
	c.Add(41 * time.Second)
	if d, _ := l.Cooldown(ctx, "sms_resend", "p1", time.Minute); !d.Allowed {
		t.Fatal("after cooldown refused")
	}
}

func TestPasswordGuard(t *testing.T) {
	ctx := context.Background()
	l, c := newLimiter(t)
	g := NewPasswordGuard(l, PasswordPolicy{PerAccountPerHour: 20, PerIPPerHour: 100, LockoutAfter: 5, LockoutFor: 15 * time.Minute, DelayAfter: 3})
	fail := func() {
		t.Helper()
		if d, err := g.Before(ctx, "acct", "1.2.3.4"); err != nil || !d.Allowed {
			t.Fatalf("attempt refused early: %+v %v", d, err)
		}
		if err := g.Failed(ctx, "acct"); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		fail()
	}
	// After three failures each attempt waits: 1 s, then 2 s.
	d, _ := g.Before(ctx, "acct", "1.2.3.4")
	if d.Allowed || d.Rule != RuleDelay || d.RetryAfter != time.Second {
		t.Fatalf("no growing delay: %+v", d)
	}
	c.Add(time.Second)
	fail()
	d, _ = g.Before(ctx, "acct", "1.2.3.4")
	if d.Allowed || d.RetryAfter != 2*time.Second {
		t.Fatalf("delay did not grow: %+v", d)
	}
	c.Add(2 * time.Second)
	fail()
	// Five failures lock the account.
	c.Add(time.Minute)
	d, _ = g.Before(ctx, "acct", "1.2.3.4")
	if d.Allowed || d.Rule != RuleLockout {
		t.Fatalf("not locked: %+v", d)
	}
	// A successful SMS login clears it.
	if err := g.Cleared(ctx, "acct"); err != nil {
		t.Fatal(err)
	}
	if d, _ := g.Before(ctx, "acct", "1.2.3.4"); !d.Allowed {
		t.Fatalf("still locked after clearing: %+v", d)
	}
	// Time clears it too.
	for range 5 {
		c.Add(40 * time.Second)
		fail()
	}
	c.Add(15 * time.Minute)
	if d, _ := g.Before(ctx, "acct", "1.2.3.4"); !d.Allowed {
		t.Fatalf("lockout outlived its window: %+v", d)
	}
}

func TestPasswordGuardPerIP(t *testing.T) {
	ctx := context.Background()
	l, _ := newLimiter(t)
	g := NewPasswordGuard(l, PasswordPolicy{PerAccountPerHour: 20, PerIPPerHour: 3, LockoutAfter: 10, LockoutFor: time.Hour})
	for i := range 3 {
		if d, _ := g.Before(ctx, "acct"+string(rune('a'+i)), "9.9.9.9"); !d.Allowed {
			t.Fatalf("attempt %d refused", i)
		}
	}
	if d, _ := g.Before(ctx, "acct-z", "9.9.9.9"); d.Allowed || d.Rule != RulePasswordIP {
		t.Fatalf("per-IP limit not applied across accounts: %+v", d)
	}
}

// TestPasswordGuardPerAccount spreads guesses at one account over many
// addresses and slowly enough that neither the lockout nor the growing
// delay bites: the hourly budget per account still stops them (ASVS
// 4.0.3 2.2.1: at most 100 failures an hour on one account).
func TestPasswordGuardPerAccount(t *testing.T) {
	ctx := context.Background()
	l, c := newLimiter(t)
	g := NewPasswordGuard(l, PasswordPolicy{PerAccountPerHour: 6, PerIPPerHour: 100, LockoutAfter: 100, LockoutFor: time.Minute, DelayAfter: 100})
	for i := range 6 {
		ip := fmt.Sprintf("10.0.0.%d", i)
		if d, err := g.Before(ctx, "acct", ip); err != nil || !d.Allowed {
			t.Fatalf("guess %d refused: %+v %v", i, d, err)
		}
		if err := g.Failed(ctx, "acct"); err != nil {
			t.Fatal(err)
		}
		c.Add(time.Minute)
	}
	d, _ := g.Before(ctx, "acct", "10.0.1.1")
	if d.Allowed || d.Rule != RulePasswordAccount || d.RetryAfter != 53*time.Minute+30*time.Second {
		t.Fatalf("seventh guess in the hour: %+v", d)
	}
	if d, _ := g.Before(ctx, "other", "10.0.1.1"); !d.Allowed {
		t.Fatalf("another account was limited: %+v", d)
	}
	c.Add(d.RetryAfter)
	if d, _ := g.Before(ctx, "acct", "10.0.1.1"); !d.Allowed {
		t.Fatalf("the budget did not renew with the hour: %+v", d)
	}
}
