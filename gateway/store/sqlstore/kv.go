package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shiming-id/shiming/gateway/store"
)

// PutIfAbsent stores value under key unless a value live at the store's
// clock is there. One statement inserts, or replaces an expired value
// (ON CONFLICT DO UPDATE ... WHERE the old one expired): concurrent
// callers see exactly one stored=true. A caller that lost then reads the
// winner's value, which stays until it expires; a loser that reads just
// after it expired and was removed gets no value.
//
// It is a single autocommitted statement, prepared once, because it runs
// on hot paths (a claim per due vendor poll): on SQLite a transaction of
// three statements cost as much as a flow update.
func (s *Store) PutIfAbsent(ctx context.Context, key string, value []byte, expiresAt time.Time) ([]byte, bool, error) {
	res, err := s.ws.ExecContext(ctx, s.q(`INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
		WHERE kv.expires_at <= ?`), key, blob(value), s.t(expiresAt), s.t(s.now()))
	if err != nil {
		return nil, false, fmt.Errorf("sqlstore: put if absent: %w", err)
	}
	if stored, err := affected(res); err != nil || stored {
		if err != nil {
			return nil, false, fmt.Errorf("sqlstore: put if absent: %w", err)
		}
		return nil, true, nil
	}
	var existing []byte
	err = s.rs.QueryRowContext(ctx, s.q(`SELECT value FROM kv WHERE key = ?`), key).Scan(&existing)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("sqlstore: put if absent: read the live value: %w", err)
	}
	return unblob(existing), false, nil
}

// Put stores value under key, replacing any value.
func (s *Store) Put(ctx context.Context, key string, value []byte, expiresAt time.Time) error {
	_, err := s.ws.ExecContext(ctx, s.q(`INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`),
		key, blob(value), s.t(expiresAt))
	if err != nil {
		return fmt.Errorf("sqlstore: put: %w", err)
	}
	return nil
}

// Get returns a value that has not expired at now.
func (s *Store) Get(ctx context.Context, key string, now time.Time) ([]byte, error) {
	var v []byte
	err := s.rs.QueryRowContext(ctx, s.q(`SELECT value FROM kv WHERE key = ? AND expires_at > ?`), key, s.t(now)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: get: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: get: %w", err)
	}
	return unblob(v), nil
}

// Delete removes a key; removing a missing one is no error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if _, err := s.ws.ExecContext(ctx, s.q(`DELETE FROM kv WHERE key = ?`), key); err != nil {
		return fmt.Errorf("sqlstore: delete: %w", err)
	}
	return nil
}

// DeleteExpiredKV removes keys expired at now.
func (s *Store) DeleteExpiredKV(ctx context.Context, now time.Time) (int, error) {
	return s.deleteCount(ctx, "delete expired kv", `DELETE FROM kv WHERE expires_at <= ?`, s.t(now))
}
