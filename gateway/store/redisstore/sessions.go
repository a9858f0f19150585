package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shiming-id/shiming/gateway/store"
)

// A session is a hash under sess:<id> with fields a (account), d (data),
// c, l, e, x (created, last seen, expires, absolute expiry). Redis keeps
// it until the earlier of the two expiries plus the grace; the session
// index (idx:sess, scored by that earlier expiry) and the account's set
// (acct:<account>) follow every write.
var sessionFields = []string{"a", "d", "c", "l", "e", "x"}

// until is when a session ends: the earlier of its idle and absolute
// expiries.
func until(ss store.Session) time.Time {
	if ss.AbsoluteExpiresAt.Before(ss.ExpiresAt) {
		return ss.AbsoluteExpiresAt
	}
	return ss.ExpiresAt
}

// CreateSession stores a new session; ErrAlreadyExists on an id clash.
func (s *Store) CreateSession(ctx context.Context, ss store.Session) error {
	end := until(ss)
	ok, err := s.sc.createSession.Run(ctx, s.rdb, []string{s.sessionKey(ss.ID), s.indexKey("sess")},
		ss.ID, ss.AccountID, ss.Data, micros(ss.CreatedAt), micros(ss.LastSeenAt), micros(ss.ExpiresAt),
		micros(ss.AbsoluteExpiresAt), micros(end), s.ttl(end), s.accountSessionsPrefix()).Int64()
	if err != nil {
		return fmt.Errorf("redisstore: create session: %w", err)
	}
	if ok == 0 {
		return fmt.Errorf("redisstore: create session: %w", store.ErrAlreadyExists)
	}
	return nil
}

// GetSession returns a session that has expired neither by idleness nor
// by its absolute limit at now.
func (s *Store) GetSession(ctx context.Context, id string, now time.Time) (store.Session, error) {
	v, err := s.rdb.HMGet(ctx, s.sessionKey(id), sessionFields...).Result()
	if err != nil {
		return store.Session{}, fmt.Errorf("redisstore: get session: %w", err)
	}
	f := fields(v)
	if !f.found() {
		return store.Session{}, fmt.Errorf("redisstore: get session: %w", store.ErrNotFound)
	}
	ss := store.Session{ID: id}
	var errs [6]error
	ss.AccountID, errs[0] = f.str(0)
	ss.Data, errs[1] = f.bytes(1)
	ss.CreatedAt, errs[2] = f.time(2)
	ss.LastSeenAt, errs[3] = f.time(3)
	ss.ExpiresAt, errs[4] = f.time(4)
	ss.AbsoluteExpiresAt, errs[5] = f.time(5)
	if err := errors.Join(errs[:]...); err != nil {
		return store.Session{}, fmt.Errorf("redisstore: get session: damaged record: %w", err)
	}
	if !now.Before(ss.ExpiresAt) || !now.Before(ss.AbsoluteExpiresAt) {
		return store.Session{}, fmt.Errorf("redisstore: get session: %w", store.ErrNotFound)
	}
	return ss, nil
}

// UpdateSession replaces a session's account, data and times (not its
// creation time); ErrNotFound if it is gone.
func (s *Store) UpdateSession(ctx context.Context, ss store.Session) error {
	end := until(ss)
	ok, err := s.sc.updateSession.Run(ctx, s.rdb, []string{s.sessionKey(ss.ID), s.indexKey("sess")},
		ss.ID, ss.AccountID, ss.Data, micros(ss.LastSeenAt), micros(ss.ExpiresAt),
		micros(ss.AbsoluteExpiresAt), micros(end), s.ttl(end), s.accountSessionsPrefix()).Int64()
	if err != nil {
		return fmt.Errorf("redisstore: update session: %w", err)
	}
	if ok == 0 {
		return fmt.Errorf("redisstore: update session: %w", store.ErrNotFound)
	}
	return nil
}

// TouchSession moves a session's activity times, and its lifetime in
// Redis with them, and nothing else, in one script; ErrNotFound if it is
// gone.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeenAt, expiresAt time.Time) error {
	ok, err := s.sc.touchSession.Run(ctx, s.rdb, []string{s.sessionKey(id), s.indexKey("sess")},
		id, micros(lastSeenAt), micros(expiresAt), micros(s.now()), s.grace.Milliseconds(),
		s.accountSessionsPrefix()).Int64()
	if err != nil {
		return fmt.Errorf("redisstore: touch session: %w", err)
	}
	if ok == 0 {
		return fmt.Errorf("redisstore: touch session: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteSession removes a session; removing a missing one is no error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	err := s.sc.deleteSession.Run(ctx, s.rdb, []string{s.sessionKey(id), s.indexKey("sess")},
		id, s.accountSessionsPrefix()).Err()
	if err != nil {
		return fmt.Errorf("redisstore: delete session: %w", err)
	}
	return nil
}

// DeleteAccountSessions ends every session of an account, whichever
// replica created it, and returns how many there were.
func (s *Store) DeleteAccountSessions(ctx context.Context, accountID string) (int, error) {
	if accountID == "" {
		return 0, errors.New("redisstore: delete account sessions: empty account id")
	}
	n, err := s.sc.deleteAccountSessions.Run(ctx, s.rdb,
		[]string{s.accountSessionsPrefix() + accountID, s.indexKey("sess")},
		accountID, s.sessionKey("")).Int64()
	if err != nil {
		return 0, fmt.Errorf("redisstore: delete account sessions: %w", err)
	}
	return int(n), nil
}

// DeleteExpiredSessions removes the sessions expired at now that Redis
// still keeps (within their grace) and takes every expired session out of
// the index and of its account's set.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	n, err := s.sweep(ctx, s.sc.sweepSessions, []string{s.indexKey("sess")}, now,
		s.sessionKey(""), s.accountSessionsPrefix())
	if err != nil {
		return n, fmt.Errorf("redisstore: delete expired sessions: %w", err)
	}
	return n, nil
}
