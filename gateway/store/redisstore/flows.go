package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/shiming-id/shiming/gateway/store"
)

// A flow is a hash under flow:<id> with fields k (kind), s (session), st
// (state), v (version), c, u, e (created, updated, expires). Redis keeps
// it until it expires plus the grace; the flow index (idx:flow, scored by
// expiry) follows every write.
var flowFields = []string{"k", "s", "st", "v", "c", "u", "e"}

// flowArgs are the script arguments that store f at version.
func (s *Store) flowArgs(f store.Flow, version int64) []any {
	return []any{f.ID, f.Kind, f.SessionID, f.State, strconv.FormatInt(version, 10),
		micros(f.CreatedAt), micros(f.UpdatedAt), micros(f.ExpiresAt), s.ttl(f.ExpiresAt)}
}

// CreateFlow stores a new flow; ErrAlreadyExists on an id clash.
func (s *Store) CreateFlow(ctx context.Context, f store.Flow) error {
	ok, err := s.sc.createFlow.Run(ctx, s.rdb, []string{s.flowKey(f.ID), s.indexKey("flow")},
		s.flowArgs(f, f.Version)...).Int64()
	if err != nil {
		return fmt.Errorf("redisstore: create flow: %w", err)
	}
	if ok == 0 {
		return fmt.Errorf("redisstore: create flow: %w", store.ErrAlreadyExists)
	}
	return nil
}

// GetFlow returns a flow that has not expired at now.
func (s *Store) GetFlow(ctx context.Context, id string, now time.Time) (store.Flow, error) {
	v, err := s.rdb.HMGet(ctx, s.flowKey(id), flowFields...).Result()
	if err != nil {
		return store.Flow{}, fmt.Errorf("redisstore: get flow: %w", err)
	}
	f := fields(v)
	if !f.found() {
		return store.Flow{}, fmt.Errorf("redisstore: get flow: %w", store.ErrNotFound)
	}
	fl := store.Flow{ID: id}
	var errs [7]error
	fl.Kind, errs[0] = f.str(0)
	fl.SessionID, errs[1] = f.str(1)
	fl.State, errs[2] = f.bytes(2)
	fl.Version, errs[3] = f.int(3)
	fl.CreatedAt, errs[4] = f.time(4)
	fl.UpdatedAt, errs[5] = f.time(5)
	fl.ExpiresAt, errs[6] = f.time(6)
	if err := errors.Join(errs[:]...); err != nil {
		return store.Flow{}, fmt.Errorf("redisstore: get flow: damaged record: %w", err)
	}
	if !now.Before(fl.ExpiresAt) {
		return store.Flow{}, fmt.Errorf("redisstore: get flow: %w", store.ErrNotFound)
	}
	return fl, nil
}

// UpdateFlow replaces a flow whose stored version is f.Version and
// returns it at the next version. The compare and the write are one
// script, so of several concurrent updates from the same version, on any
// replicas, exactly one wins; the others get ErrConflict.
func (s *Store) UpdateFlow(ctx context.Context, f store.Flow) (store.Flow, error) {
	next := f
	next.Version = f.Version + 1
	next.CreatedAt, next.UpdatedAt, next.ExpiresAt = norm(f.CreatedAt), norm(f.UpdatedAt), norm(f.ExpiresAt)
	args := append(s.flowArgs(f, next.Version), strconv.FormatInt(f.Version, 10))
	res, err := s.sc.updateFlow.Run(ctx, s.rdb, []string{s.flowKey(f.ID), s.indexKey("flow")}, args...).Int64()
	switch {
	case err != nil:
		return store.Flow{}, fmt.Errorf("redisstore: update flow: %w", err)
	case res < 0:
		return store.Flow{}, fmt.Errorf("redisstore: update flow: %w", store.ErrNotFound)
	case res == 0:
		return store.Flow{}, fmt.Errorf("redisstore: update flow: %w", store.ErrConflict)
	}
	return next, nil
}

// DeleteFlow removes a flow; removing a missing one is no error.
func (s *Store) DeleteFlow(ctx context.Context, id string) error {
	if err := s.del(ctx, s.flowKey(id), s.indexKey("flow"), id); err != nil {
		return fmt.Errorf("redisstore: delete flow: %w", err)
	}
	return nil
}

// DeleteExpiredFlows removes the flows expired at now that Redis still
// keeps, and takes every expired flow out of the index.
func (s *Store) DeleteExpiredFlows(ctx context.Context, now time.Time) (int, error) {
	n, err := s.sweep(ctx, s.sc.sweep, []string{s.indexKey("flow")}, now, s.flowKey(""))
	if err != nil {
		return n, fmt.Errorf("redisstore: delete expired flows: %w", err)
	}
	return n, nil
}

// del removes a record and its index entry in one MULTI/EXEC.
func (s *Store) del(ctx context.Context, key, index, member string) error {
	p := s.rdb.TxPipeline()
	p.Del(ctx, key)
	p.ZRem(ctx, index, member)
	_, err := p.Exec(ctx)
	return err
}

// norm is how a time comes back from the store: UTC, to the microsecond.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
