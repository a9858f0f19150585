package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shiming-id/shiming/gateway/store"
)

// A key is a hash under kv:<key> with fields v (value) and e (expires).
// Redis keeps it until it expires plus the grace; the kv index (idx:kv,
// scored by expiry) follows every write.

// PutIfAbsent stores value under key unless a value live at the store's
// clock is there, in one script: concurrent callers on any replicas see
// exactly one stored=true, and all the others the winner's value.
//
// It is a script rather than SET NX GET (which this Redis, 7.0, has)
// because liveness is the stored expiry against the store's clock, as in
// the SQL stores, not the key's presence: a value kept for its grace no
// longer holds the key.
func (s *Store) PutIfAbsent(ctx context.Context, key string, value []byte, expiresAt time.Time) ([]byte, bool, error) {
	now := s.now()
	res, err := s.sc.putIfAbsent.Run(ctx, s.rdb, []string{s.kvKey(key), s.indexKey("kv")},
		key, value, micros(expiresAt), s.ttl(expiresAt), micros(now)).Slice()
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: put if absent: %w", err)
	}
	if len(res) == 0 {
		return nil, false, errors.New("redisstore: put if absent: empty script reply")
	}
	if stored, _ := res[0].(int64); stored == 1 {
		return nil, true, nil
	}
	if len(res) != 2 {
		return nil, false, fmt.Errorf("redisstore: put if absent: script replied %d values", len(res))
	}
	existing, _ := res[1].(string)
	if existing == "" {
		return nil, false, nil
	}
	return []byte(existing), false, nil
}

// Put stores value under key, replacing any value.
func (s *Store) Put(ctx context.Context, key string, value []byte, expiresAt time.Time) error {
	err := s.sc.put.Run(ctx, s.rdb, []string{s.kvKey(key), s.indexKey("kv")},
		key, value, micros(expiresAt), s.ttl(expiresAt)).Err()
	if err != nil {
		return fmt.Errorf("redisstore: put: %w", err)
	}
	return nil
}

// Get returns a value that has not expired at now.
func (s *Store) Get(ctx context.Context, key string, now time.Time) ([]byte, error) {
	v, err := s.rdb.HMGet(ctx, s.kvKey(key), "v", "e").Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: get: %w", err)
	}
	f := fields(v)
	if !f.found() {
		return nil, fmt.Errorf("redisstore: get: %w", store.ErrNotFound)
	}
	exp, err := f.time(1)
	if err != nil {
		return nil, fmt.Errorf("redisstore: get: damaged record: %w", err)
	}
	if !now.Before(exp) {
		return nil, fmt.Errorf("redisstore: get: %w", store.ErrNotFound)
	}
	return f.bytes(0)
}

// Delete removes a key; removing a missing one is no error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.del(ctx, s.kvKey(key), s.indexKey("kv"), key); err != nil {
		return fmt.Errorf("redisstore: delete: %w", err)
	}
	return nil
}

// DeleteExpiredKV removes the keys expired at now that Redis still keeps,
// and takes every expired key out of the index.
func (s *Store) DeleteExpiredKV(ctx context.Context, now time.Time) (int, error) {
	n, err := s.sweep(ctx, s.sc.sweep, []string{s.indexKey("kv")}, now, s.kvKey(""))
	if err != nil {
		return n, fmt.Errorf("redisstore: delete expired kv: %w", err)
	}
	return n, nil
}
