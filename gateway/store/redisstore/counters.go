package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shiming-id/shiming/gateway/store"
)

// A counter window is an integer under ctr:<key>:<length µs>:<start µs>,
// kept until the window ends plus the grace. Each key has a set of its
// windows (ctrs:<key>) for Reset, and the counter index (idx:ctr, scored
// by window end) lists every window for DeleteExpiredCounters.

// Incr adds n to key's counter in the window holding now and returns the
// window's new total: one script that increments and, for a new window,
// sets its lifetime and indexes it.
func (s *Store) Incr(ctx context.Context, key string, n int64, length time.Duration, now time.Time) (int64, error) {
	us, start, end, err := store.Window(length, now)
	if err != nil {
		return 0, fmt.Errorf("redisstore: incr: %w", err)
	}
	total, err := s.sc.incr.Run(ctx, s.rdb,
		[]string{s.counterKey(key, us, start), s.counterWindowsKey(key), s.indexKey("ctr")},
		n, s.ttl(end), micros(end)).Int64()
	if err != nil {
		return 0, fmt.Errorf("redisstore: incr: %w", err)
	}
	return total, nil
}

// Count returns key's total in the window holding now.
func (s *Store) Count(ctx context.Context, key string, length time.Duration, now time.Time) (int64, error) {
	us, start, _, err := store.Window(length, now)
	if err != nil {
		return 0, fmt.Errorf("redisstore: count: %w", err)
	}
	total, err := s.rdb.Get(ctx, s.counterKey(key, us, start)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: count: %w", err)
	}
	return total, nil
}

// Reset clears key in every window.
func (s *Store) Reset(ctx context.Context, key string) error {
	err := s.sc.reset.Run(ctx, s.rdb, []string{s.counterWindowsKey(key), s.indexKey("ctr")}).Err()
	if err != nil {
		return fmt.Errorf("redisstore: reset: %w", err)
	}
	return nil
}

// DeleteExpiredCounters removes the windows that ended at or before now
// and Redis still keeps, and takes every ended window out of the indexes.
func (s *Store) DeleteExpiredCounters(ctx context.Context, now time.Time) (int, error) {
	n, err := s.sweep(ctx, s.sc.sweepCounters, []string{s.indexKey("ctr")}, now,
		s.counterWindowsKey(""), s.prefix+"ctr:")
	if err != nil {
		return n, fmt.Errorf("redisstore: delete expired counters: %w", err)
	}
	return n, nil
}
