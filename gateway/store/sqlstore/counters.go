package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shiming-id/shiming/gateway/store"
)

// Incr adds n to key's counter in the window holding now, with one
// upsert, and returns the window's new total.
func (s *Store) Incr(ctx context.Context, key string, n int64, length time.Duration, now time.Time) (int64, error) {
	us, start, end, err := store.Window(length, now)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: incr: %w", err)
	}
	var total int64
	err = s.ws.QueryRowContext(ctx, s.q(`INSERT INTO counters (key, window_us, window_start, total, expires_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (key, window_us, window_start) DO UPDATE SET total = counters.total + excluded.total
		RETURNING total`), key, us, s.t(start), n, s.t(end)).Scan(&total)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: incr: %w", err)
	}
	return total, nil
}

// Count returns key's total in the window holding now.
func (s *Store) Count(ctx context.Context, key string, length time.Duration, now time.Time) (int64, error) {
	us, start, _, err := store.Window(length, now)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: count: %w", err)
	}
	var total int64
	err = s.rs.QueryRowContext(ctx, s.q(`SELECT total FROM counters WHERE key = ? AND window_us = ? AND window_start = ?`),
		key, us, s.t(start)).Scan(&total)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlstore: count: %w", err)
	}
	return total, nil
}

// Reset clears key in every window.
func (s *Store) Reset(ctx context.Context, key string) error {
	if _, err := s.ws.ExecContext(ctx, s.q(`DELETE FROM counters WHERE key = ?`), key); err != nil {
		return fmt.Errorf("sqlstore: reset: %w", err)
	}
	return nil
}

// DeleteExpiredCounters removes windows that ended at or before now.
func (s *Store) DeleteExpiredCounters(ctx context.Context, now time.Time) (int, error) {
	return s.deleteCount(ctx, "delete expired counters", `DELETE FROM counters WHERE expires_at <= ?`, s.t(now))
}
