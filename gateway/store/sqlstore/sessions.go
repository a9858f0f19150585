package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shiming-id/shiming/gateway/store"
)

// CreateSession stores a new session.
func (s *Store) CreateSession(ctx context.Context, ss store.Session) error {
	_, err := s.ws.ExecContext(ctx, s.q(`INSERT INTO sessions
		(id, account_id, data, created_at, last_seen_at, expires_at, absolute_expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`),
		ss.ID, ss.AccountID, blob(ss.Data), s.t(ss.CreatedAt), s.t(ss.LastSeenAt), s.t(ss.ExpiresAt), s.t(ss.AbsoluteExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlstore: create session: %w", s.mapErr(err))
	}
	return nil
}

// GetSession returns a session that has expired neither by idleness nor
// by its absolute limit at now.
func (s *Store) GetSession(ctx context.Context, id string, now time.Time) (store.Session, error) {
	var ss store.Session
	err := s.rs.QueryRowContext(ctx, s.q(`SELECT id, account_id, data, created_at, last_seen_at, expires_at, absolute_expires_at
		FROM sessions WHERE id = ? AND expires_at > ? AND absolute_expires_at > ?`), id, s.t(now), s.t(now)).Scan(
		&ss.ID, &ss.AccountID, &ss.Data, tc(&ss.CreatedAt), tc(&ss.LastSeenAt), tc(&ss.ExpiresAt), tc(&ss.AbsoluteExpiresAt))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("sqlstore: get session: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("sqlstore: get session: %w", err)
	}
	ss.Data = unblob(ss.Data)
	return ss, nil
}

// UpdateSession replaces a session's account, data and times.
func (s *Store) UpdateSession(ctx context.Context, ss store.Session) error {
	res, err := s.ws.ExecContext(ctx, s.q(`UPDATE sessions SET
			account_id = ?, data = ?, last_seen_at = ?, expires_at = ?, absolute_expires_at = ?
		WHERE id = ?`),
		ss.AccountID, blob(ss.Data), s.t(ss.LastSeenAt), s.t(ss.ExpiresAt), s.t(ss.AbsoluteExpiresAt), ss.ID)
	if err != nil {
		return fmt.Errorf("sqlstore: update session: %w", err)
	}
	ok, err := affected(res)
	if err != nil {
		return fmt.Errorf("sqlstore: update session: %w", err)
	}
	if !ok {
		return fmt.Errorf("sqlstore: update session: %w", store.ErrNotFound)
	}
	return nil
}

// TouchSession moves a session's activity times and nothing else.
func (s *Store) TouchSession(ctx context.Context, id string, lastSeenAt, expiresAt time.Time) error {
	res, err := s.ws.ExecContext(ctx, s.q(`UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?`),
		s.t(lastSeenAt), s.t(expiresAt), id)
	if err != nil {
		return fmt.Errorf("sqlstore: touch session: %w", err)
	}
	ok, err := affected(res)
	if err != nil {
		return fmt.Errorf("sqlstore: touch session: %w", err)
	}
	if !ok {
		return fmt.Errorf("sqlstore: touch session: %w", store.ErrNotFound)
	}
	return nil
}

// DeleteSession removes a session; removing a missing one is no error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.ws.ExecContext(ctx, s.q(`DELETE FROM sessions WHERE id = ?`), id); err != nil {
		return fmt.Errorf("sqlstore: delete session: %w", err)
	}
	return nil
}

// DeleteAccountSessions removes every session of an account.
func (s *Store) DeleteAccountSessions(ctx context.Context, accountID string) (int, error) {
	if accountID == "" {
		return 0, errors.New("sqlstore: delete account sessions: empty account id")
	}
	return s.deleteCount(ctx, "delete account sessions", `DELETE FROM sessions WHERE account_id = ?`, accountID)
}

// DeleteExpiredSessions removes sessions expired at now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	return s.deleteCount(ctx, "delete expired sessions",
		`DELETE FROM sessions WHERE expires_at <= ? OR absolute_expires_at <= ?`, s.t(now), s.t(now))
}

// deleteCount runs a DELETE and returns how many rows it removed.
func (s *Store) deleteCount(ctx context.Context, step, query string, args ...any) (int, error) {
	res, err := s.ws.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: %s: %w", step, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: %s: %w", step, err)
	}
	return int(n), nil
}
