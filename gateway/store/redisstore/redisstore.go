// Package redisstore keeps the gateway's short-lived shared state —
// sessions, flow state, single-use keys and rate counters — in Redis, so
// that many replicas can serve any step of any journey.
//
// Durable data (accounts, audit, registration) stays in SQL (package
// sqlstore); this store implements store.Sessions, store.Flows, store.KV
// and store.Counters only, and passes their conformance suites.
//
// Liveness is judged as in the SQL stores: a record is live while the
// time given (or, for PutIfAbsent, the store's clock) is before the
// expiry stored with it. Redis's own key expiry forgets a record Grace
// after that, so dead records cost no memory and need no sweeping; the
// janitor's DeleteExpired* calls remove records as soon as they expire and
// keep the small indexes (expiry per kind, sessions per account, windows
// per counter) tidy. Every call on the request path is one round trip: a
// read, or one Lua script that checks and writes atomically.
//
// The store needs a single Redis (a primary, with replicas or Sentinel
// for failover if wanted); its scripts touch keys they derive, which Redis
// Cluster does not allow.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shiming-id/shiming/gateway/store"
)

// Options tune a Store. The zero value serves a single deployment.
type Options struct {
	// Prefix starts every key the store writes, so that several
	// deployments, or tests, can share one Redis. Default "shiming:".
	Prefix string
	// Now is the store's clock. It decides the one thing the interfaces
	// give no time for — whether the value PutIfAbsent finds is still
	// live — and the time from which key lifetimes in Redis are counted.
	// Default time.Now.
	Now func() time.Time
	// Grace is how long Redis keeps a record after it expired, by the
	// store's clock when it was written. Reads already see it as gone;
	// the grace lets the janitor (which sweeps every minute by default)
	// find the expired sessions and clean the per-account index, and lets
	// a replica whose clock lags judge records as SQL would. Default two
	// minutes; a negative value means none.
	Grace time.Duration
}

// DefaultPrefix is the key prefix when Options.Prefix is empty.
const DefaultPrefix = "shiming:"

// defaultGrace outlives one sweep of store.Janitor at its default interval.
const defaultGrace = 2 * time.Minute

// sweepBatch is how many expired records one script call removes, so that
// a sweep never blocks Redis for long.
const sweepBatch = 500

// Store keeps sessions, flows, short-lived keys and rate counters in
// Redis. It is safe for concurrent use.
type Store struct {
	rdb    *redis.Client
	prefix string
	now    func() time.Time
	grace  time.Duration
	sc     scripts
}

// Open connects to the Redis at rawURL (redis://[user:password@]host:port/db,
// rediss:// for TLS, or unix://path; go-redis options such as
// pool_size, dial_timeout or read_timeout may be given as query
// parameters), checks that it answers, and returns a Store. Close it when
// done.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		// A url.Error repeats the URL, and with it any password.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("redisstore: parse URL: %w", err)
	}
	s := &Store{
		rdb:    redis.NewClient(ro),
		prefix: opts.Prefix,
		now:    opts.Now,
		grace:  opts.Grace,
		sc:     newScripts(),
	}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.now == nil {
		s.now = time.Now
	}
	switch {
	case s.grace == 0:
		s.grace = defaultGrace
	case s.grace < 0:
		s.grace = 0
	}
	if err := s.load(ctx); err != nil {
		_ = s.rdb.Close()
		return nil, fmt.Errorf("redisstore: open: %w", err)
	}
	return s, nil
}

// load checks that Redis answers and caches the scripts there, in one
// round trip, so that the first request already runs them by digest.
func (s *Store) load(ctx context.Context) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Ping(ctx)
		for _, sc := range s.sc.all() {
			sc.Load(ctx, p)
		}
		return nil
	})
	return err
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

// Close closes the connections to Redis.
func (s *Store) Close() error {
	if err := s.rdb.Close(); err != nil {
		return fmt.Errorf("redisstore: close: %w", err)
	}
	return nil
}

// Keys. Each kind of record has its own segment after the prefix, so no
// key of one kind can equal a key of another.
func (s *Store) sessionKey(id string) string         { return s.prefix + "sess:" + id }
func (s *Store) accountSessionsPrefix() string       { return s.prefix + "acct:" }
func (s *Store) flowKey(id string) string            { return s.prefix + "flow:" + id }
func (s *Store) kvKey(key string) string             { return s.prefix + "kv:" + key }
func (s *Store) counterWindowsKey(key string) string { return s.prefix + "ctrs:" + key }
func (s *Store) indexKey(kind string) string         { return s.prefix + "idx:" + kind }

// counterKey names one window of a counter. The window's length is part
// of the name, so a minute and an hour that start together stay apart;
// read from the right the name is unambiguous whatever the key holds.
func (s *Store) counterKey(key string, lengthUS int64, start time.Time) string {
	return s.prefix + "ctr:" + key + ":" + strconv.FormatInt(lengthUS, 10) + ":" + strconv.FormatInt(start.UnixMicro(), 10)
}

// maxLife caps a lifetime in Redis, so that a far-future expiry cannot
// overflow the arithmetic (or Redis's).
const maxLife = 100 * 365 * 24 * time.Hour

// ttl is how long, in milliseconds, Redis keeps a record that expires at
// expiresAt: until then by the store's clock, plus the grace, and never
// less than a millisecond. It is given relative to the store's clock
// (PEXPIRE, not PEXPIREAT), so a clock injected in tests moves Redis's
// expiry with it.
func (s *Store) ttl(expiresAt time.Time) int64 {
	left := min(max(expiresAt.Sub(s.now()), 0), maxLife)
	ms := (left+time.Millisecond-1)/time.Millisecond + min(s.grace, maxLife)/time.Millisecond
	return max(int64(ms), 1)
}

// micros is how a time is stored: microseconds since the Unix epoch, the
// precision the SQL stores keep.
func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

// fields reads the reply of an HMGET whose first field every record has.
type fields []any

// found reports whether the record exists.
func (f fields) found() bool { return len(f) > 0 && f[0] != nil }

func (f fields) str(i int) (string, error) {
	v, ok := f[i].(string)
	if !ok {
		return "", fmt.Errorf("field %d is missing", i)
	}
	return v, nil
}

// bytes returns a field's value, an empty one as nil as the SQL stores do.
func (f fields) bytes(i int) ([]byte, error) {
	v, err := f.str(i)
	if err != nil || v == "" {
		return nil, err
	}
	return []byte(v), nil
}

func (f fields) int(i int) (int64, error) {
	v, err := f.str(i)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("field %d: %w", i, err)
	}
	return n, nil
}

func (f fields) time(i int) (time.Time, error) {
	n, err := f.int(i)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMicro(n).UTC(), nil
}

// sweep runs a DeleteExpired* script until it finds nothing more that
// expired at now, and returns how many records it removed.
func (s *Store) sweep(ctx context.Context, sc *redis.Script, keys []string, now time.Time, args ...any) (int, error) {
	total := 0
	for {
		res, err := sc.Run(ctx, s.rdb, keys, append([]any{now.UnixMicro(), sweepBatch}, args...)...).Int64Slice()
		if err != nil {
			return total, err
		}
		if len(res) != 2 {
			return total, fmt.Errorf("sweep script returned %d values", len(res))
		}
		total += int(res[0])
		if res[1] < sweepBatch {
			return total, nil
		}
	}
}

var (
	_ store.Sessions = (*Store)(nil)
	_ store.Flows    = (*Store)(nil)
	_ store.KV       = (*Store)(nil)
	_ store.Counters = (*Store)(nil)
	_ store.Expirer  = (*Store)(nil)
)
