package sqlstore

import (
	"context"
	"fmt"

	"github.com/shiming-id/shiming/gateway/store"
)

// AppendAudit links r to the chain head and stores it. The head row is
// read and rewritten in the same write transaction (locked FOR UPDATE on
// PostgreSQL; SQLite's IMMEDIATE transactions exclude other writers), so
// appends are serialized and Seq has no gaps: a failed append rolls back
// with its head update.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) (store.AuditRecord, error) {
	r.Time = norm(r.Time)
	err := s.tx(ctx, func(q querier) error {
		var (
			seq  int64
			prev []byte
		)
		if err := q.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`+s.flavor.LockRow).Scan(&seq, &prev); err != nil {
			return fmt.Errorf("read chain head: %w", err)
		}
		r.Seq = seq + 1
		r.PrevHash = unblob(prev)
		r.Hash = store.AuditHash(r.PrevHash, r)
		if _, err := q.ExecContext(ctx, s.q(`INSERT INTO audit (seq, time, kind, actor, subject, detail, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
			r.Seq, s.t(r.Time), r.Kind, r.Actor, r.Subject, blob(r.Detail), blob(r.PrevHash), r.Hash); err != nil {
			return fmt.Errorf("insert record: %w", err)
		}
		if _, err := q.ExecContext(ctx, s.q(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`), r.Seq, r.Hash); err != nil {
			return fmt.Errorf("move chain head: %w", err)
		}
		return nil
	})
	if err != nil {
		return store.AuditRecord{}, fmt.Errorf("sqlstore: append audit: %w", err)
	}
	return r, nil
}

// AuditHead returns the chain head kept beside the records.
func (s *Store) AuditHead(ctx context.Context) (int64, []byte, error) {
	var (
		seq  int64
		hash []byte
	)
	if err := s.rs.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash); err != nil {
		return 0, nil, fmt.Errorf("sqlstore: audit head: %w", err)
	}
	return seq, unblob(hash), nil
}

// ListAudit returns up to limit records with Seq > after, in order.
func (s *Store) ListAudit(ctx context.Context, after int64, limit int) ([]store.AuditRecord, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("sqlstore: list audit: limit %d must be positive", limit)
	}
	rows, err := s.rs.QueryContext(ctx, s.q(`SELECT seq, time, kind, actor, subject, detail, prev_hash, hash
		FROM audit WHERE seq > ? ORDER BY seq LIMIT ?`), after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list audit: %w", err)
	}
	defer rows.Close()
	var out []store.AuditRecord
	for rows.Next() {
		var r store.AuditRecord
		if err := rows.Scan(&r.Seq, tc(&r.Time), &r.Kind, &r.Actor, &r.Subject, &r.Detail, &r.PrevHash, &r.Hash); err != nil {
			return nil, fmt.Errorf("sqlstore: list audit: %w", err)
		}
		r.Detail, r.PrevHash = unblob(r.Detail), unblob(r.PrevHash)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list audit: %w", err)
	}
	return out, nil
}
