// Package ratelimit enforces the abuse limits over shared counters, so
// every replica sees the same totals: password attempts with growing
// delays and a lockout, SMS budgets with a resend cooldown, QR starts.
package ratelimit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shiming-id/shiming/gateway/store"
)

// Rule is a limit: at most Limit events per Window.
type Rule struct {
	// Name is the metric label and the counter namespace (sms_phone, ...).
	Name   string
	Limit  int64
	Window time.Duration
	// Offset moves the windows' boundaries from multiples of Window since
	// the Unix epoch: a day window with Offset 8h is a calendar day at
	// UTC+8, from midnight to midnight in China.
	Offset time.Duration
}

// at is the instant the counters see for now: windows are fixed from the
// epoch, so shifting now by the offset shifts the boundaries the other way.
func (r Rule) at(now time.Time) time.Time { return now.Add(r.Offset) }

// Decision is the answer to one event.
type Decision struct {
	Allowed bool
	Count   int64
	// RetryAfter is how long until the event would be allowed again.
	RetryAfter time.Duration
	// Rule is the rule that refused the event.
	Rule string
}

// Limiter counts events against rules.
type Limiter struct {
	counters store.Counters
	kv       store.KV
	now      func() time.Time
	key      func(string) string
	limited  *prometheus.CounterVec
}

// Options configure a Limiter.
type Options struct {
	Counters store.Counters
	KV       store.KV
	// Now is the clock; default time.Now.
	Now        func() time.Time
	Registerer prometheus.Registerer
	// Key turns a caller's key (a client address, a phone's hash) into
	// the key kept in the store; the gateway passes a keyed hash, so that
	// no client address is stored in the clear. Default: the key as it is.
	Key func(string) string
	// Names lists every rule name, so that each shiming_rate_limited_total
	// series exists at zero from the start.
	Names []string
}

// New returns a limiter.
func New(o Options) (*Limiter, error) {
	if o.Counters == nil || o.KV == nil || o.Registerer == nil {
		return nil, errors.New("ratelimit: counters, KV and registerer are required")
	}
	l := &Limiter{
		counters: o.Counters, kv: o.KV, now: o.Now, key: o.Key,
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiming_rate_limited_total",
			Help: "Events refused by an abuse limit, by limit.",
		}, []string{"limit"}),
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.key == nil {
		l.key = func(k string) string { return k }
	}
	if err := o.Registerer.Register(l.limited); err != nil {
		return nil, fmt.Errorf("ratelimit: register metrics: %w", err)
	}
	for _, n := range o.Names {
		l.limited.WithLabelValues(n)
	}
	return l, nil
}

// stored is the store key of key under rule name.
func (l *Limiter) stored(name, key string) string { return name + ":" + l.key(key) }

// retryAfter is how long from at until the counter window of length w
// that holds at ends (store.Window: the windows the counters use).
func retryAfter(at time.Time, w time.Duration) time.Duration {
	_, _, end, err := store.Window(w, at)
	if err != nil {
		return 0
	}
	return end.Sub(at)
}

// Take counts one event for key under every rule in order and refuses it
// if any rule is over its limit. Counting happens even when refused, so a
// client that keeps trying stays refused.
func (l *Limiter) Take(ctx context.Context, key string, rules ...Rule) (Decision, error) {
	now := l.now()
	for _, r := range rules {
		at := r.at(now)
		n, err := l.counters.Incr(ctx, l.stored(r.Name, key), 1, r.Window, at)
		if err != nil {
			return Decision{}, fmt.Errorf("ratelimit: %s: %w", r.Name, err)
		}
		if n > r.Limit {
			l.limited.WithLabelValues(r.Name).Inc()
			return Decision{Allowed: false, Count: n, RetryAfter: retryAfter(at, r.Window), Rule: r.Name}, nil
		}
	}
	return Decision{Allowed: true}, nil
}

// Peek reports whether key is already over a rule's limit without
// counting an event.
func (l *Limiter) Peek(ctx context.Context, key string, r Rule) (Decision, error) {
	at := r.at(l.now())
	n, err := l.counters.Count(ctx, l.stored(r.Name, key), r.Window, at)
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: %s: %w", r.Name, err)
	}
	if n >= r.Limit {
		return Decision{Allowed: false, Count: n, RetryAfter: retryAfter(at, r.Window), Rule: r.Name}, nil
	}
	return Decision{Allowed: true, Count: n}, nil
}

// Reset clears a key's counter for a rule.
func (l *Limiter) Reset(ctx context.Context, key string, r Rule) error {
	if err := l.counters.Reset(ctx, l.stored(r.Name, key)); err != nil {
		return fmt.Errorf("ratelimit: reset %s: %w", r.Name, err)
	}
	return nil
}

// Cooldown allows one event per key per period (an SMS resend). It
// returns the time left when the key is still cooling down.
func (l *Limiter) Cooldown(ctx context.Context, name, key string, period time.Duration) (Decision, error) {
	now := l.now()
	var stamp [8]byte
	binary.BigEndian.PutUint64(stamp[:], uint64(now.UnixNano()))
	existing, stored, err := l.kv.PutIfAbsent(ctx, "cooldown:"+l.stored(name, key), stamp[:], now.Add(period))
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: cooldown %s: %w", name, err)
	}
	if stored {
		return Decision{Allowed: true}, nil
	}
	l.limited.WithLabelValues(name).Inc()
	left := period
	if len(existing) == 8 {
		since := now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(existing))))
		left = max(period-since, time.Second)
	}
	return Decision{Allowed: false, RetryAfter: left, Rule: name}, nil
}

// PasswordPolicy configures the password guard.
type PasswordPolicy struct {
	PerAccountPerHour int64
	PerIPPerHour      int64
	// LockoutAfter failures in LockoutFor lock the account until the
	// window ends or a successful SMS login clears it.
	LockoutAfter int64
	LockoutFor   time.Duration
	// DelayAfter failures, each further attempt must wait twice as long
	// as the one before (1 s, 2 s, 4 s, … up to MaxDelay).
	DelayAfter int64
	MaxDelay   time.Duration
}

// Rule names of the password guard.
const (
	RulePasswordAccount = "password_account"
	RulePasswordIP      = "password_ip"
	RuleLockout         = "password_lockout"
	RuleDelay           = "password_delay"
)

// ErrLimited is wrapped by refusals of the password guard.
var ErrLimited = errors.New("ratelimit: limited")

// PasswordGuard limits password attempts per account and per IP, with
// growing delays and a lockout.
type PasswordGuard struct {
	l *Limiter
	p PasswordPolicy
}

// NewPasswordGuard returns a guard over a limiter.
func NewPasswordGuard(l *Limiter, p PasswordPolicy) *PasswordGuard {
	if p.MaxDelay == 0 {
		p.MaxDelay = 30 * time.Second
	}
	if p.DelayAfter == 0 {
		p.DelayAfter = 3
	}
	return &PasswordGuard{l: l, p: p}
}

func (g *PasswordGuard) lockRule() Rule {
	return Rule{Name: RuleLockout, Limit: g.p.LockoutAfter, Window: g.p.LockoutFor}
}

// Before is called before a password is checked. account is a stable,
// non-reversible key of the account (the ID-number lookup hash), ip the
// client address. It refuses locked accounts, attempts inside the growing
// delay, and attempts over the per-account and per-IP budgets.
func (g *PasswordGuard) Before(ctx context.Context, account, ip string) (Decision, error) {
	if d, err := g.l.Peek(ctx, account, g.lockRule()); err != nil || !d.Allowed {
		return d, err
	}
	if d, err := g.l.Peek(ctx, account, g.accountRule()); err != nil || !d.Allowed {
		return d, err
	}
	if d, err := g.delay(ctx, account); err != nil || !d.Allowed {
		return d, err
	}
	return g.l.Take(ctx, ip, Rule{Name: RulePasswordIP, Limit: g.p.PerIPPerHour, Window: time.Hour})
}

func (g *PasswordGuard) accountRule() Rule {
	return Rule{Name: RulePasswordAccount, Limit: g.p.PerAccountPerHour, Window: time.Hour}
}

func (g *PasswordGuard) delay(ctx context.Context, account string) (Decision, error) {
	now := g.l.now()
	failures, err := g.l.counters.Count(ctx, g.l.stored(RuleLockout, account), g.p.LockoutFor, now)
	if err != nil || failures < g.p.DelayAfter {
		return Decision{Allowed: true}, err
	}
	last, err := g.l.kv.Get(ctx, g.l.stored("pwlast", account), now)
	if errors.Is(err, store.ErrNotFound) || len(last) != 8 {
		return Decision{Allowed: true}, nil
	}
	if err != nil {
		return Decision{}, err
	}
	wait := time.Second << min(failures-g.p.DelayAfter, 30)
	wait = min(wait, g.p.MaxDelay)
	since := now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(last))))
	if since >= wait {
		return Decision{Allowed: true}, nil
	}
	g.l.limited.WithLabelValues(RuleDelay).Inc()
	return Decision{Allowed: false, RetryAfter: wait - since, Rule: RuleDelay, Count: failures}, nil
}

// Failed records a wrong password for an account.
func (g *PasswordGuard) Failed(ctx context.Context, account string) error {
	now := g.l.now()
	for _, r := range []Rule{g.lockRule(), g.accountRule()} {
		if _, err := g.l.counters.Incr(ctx, g.l.stored(r.Name, account), 1, r.Window, now); err != nil {
			return fmt.Errorf("ratelimit: record failure: %w", err)
		}
	}
	var stamp [8]byte
	binary.BigEndian.PutUint64(stamp[:], uint64(now.UnixNano()))
	if err := g.l.kv.Put(ctx, g.l.stored("pwlast", account), stamp[:], now.Add(g.p.LockoutFor)); err != nil {
		return fmt.Errorf("ratelimit: record failure: %w", err)
	}
	return nil
}

// Cleared ends a lockout and the growing delay: a successful password
// login or SMS login proves the person holds the account.
func (g *PasswordGuard) Cleared(ctx context.Context, account string) error {
	if err := g.l.Reset(ctx, account, g.lockRule()); err != nil {
		return err
	}
	if err := g.l.kv.Delete(ctx, g.l.stored("pwlast", account)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("ratelimit: clear: %w", err)
	}
	return nil
}
