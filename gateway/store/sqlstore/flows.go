package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shiming-id/shiming/gateway/store"
)

// CreateFlow stores a new flow.
func (s *Store) CreateFlow(ctx context.Context, f store.Flow) error {
	_, err := s.ws.ExecContext(ctx, s.q(`INSERT INTO flows
		(id, kind, session_id, state, version, created_at, updated_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		f.ID, f.Kind, f.SessionID, blob(f.State), f.Version, s.t(f.CreatedAt), s.t(f.UpdatedAt), s.t(f.ExpiresAt))
	if err != nil {
		return fmt.Errorf("sqlstore: create flow: %w", s.mapErr(err))
	}
	return nil
}

// GetFlow returns a flow that has not expired at now.
func (s *Store) GetFlow(ctx context.Context, id string, now time.Time) (store.Flow, error) {
	var f store.Flow
	err := s.rs.QueryRowContext(ctx, s.q(`SELECT id, kind, session_id, state, version, created_at, updated_at, expires_at
		FROM flows WHERE id = ? AND expires_at > ?`), id, s.t(now)).Scan(
		&f.ID, &f.Kind, &f.SessionID, &f.State, &f.Version, tc(&f.CreatedAt), tc(&f.UpdatedAt), tc(&f.ExpiresAt))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Flow{}, fmt.Errorf("sqlstore: get flow: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Flow{}, fmt.Errorf("sqlstore: get flow: %w", err)
	}
	f.State = unblob(f.State)
	return f, nil
}

// UpdateFlow replaces a flow whose stored version is f.Version. The
// compare and the write are one statement, so of several concurrent
// updates from the same version exactly one wins.
func (s *Store) UpdateFlow(ctx context.Context, f store.Flow) (store.Flow, error) {
	next := f
	next.Version = f.Version + 1
	next.CreatedAt, next.UpdatedAt, next.ExpiresAt = norm(f.CreatedAt), norm(f.UpdatedAt), norm(f.ExpiresAt)
	res, err := s.ws.ExecContext(ctx, s.q(`UPDATE flows SET
			kind = ?, session_id = ?, state = ?, version = ?, created_at = ?, updated_at = ?, expires_at = ?
		WHERE id = ? AND version = ?`),
		f.Kind, f.SessionID, blob(f.State), next.Version, s.t(f.CreatedAt), s.t(f.UpdatedAt), s.t(f.ExpiresAt),
		f.ID, f.Version)
	if err == nil {
		err = s.versionMiss(ctx, s.ws, res, `flows`, f.ID)
	}
	if err != nil {
		return store.Flow{}, fmt.Errorf("sqlstore: update flow: %w", err)
	}
	return next, nil
}

// DeleteFlow removes a flow; removing a missing one is no error.
func (s *Store) DeleteFlow(ctx context.Context, id string) error {
	if _, err := s.ws.ExecContext(ctx, s.q(`DELETE FROM flows WHERE id = ?`), id); err != nil {
		return fmt.Errorf("sqlstore: delete flow: %w", err)
	}
	return nil
}

// DeleteExpiredFlows removes flows expired at now.
func (s *Store) DeleteExpiredFlows(ctx context.Context, now time.Time) (int, error) {
	return s.deleteCount(ctx, "delete expired flows", `DELETE FROM flows WHERE expires_at <= ?`, s.t(now))
}
