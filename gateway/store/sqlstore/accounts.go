package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/shiming-id/shiming/gateway/store"
)

const accountColumns = `id, id_number_hash, id_number_sealed, name_sealed, phone_hash, phone_sealed,
	password_hash, portal, created_at, updated_at, version`

// CreateAccount stores an account with its first evidence and links in
// one transaction.
func (s *Store) CreateAccount(ctx context.Context, a store.Account, evidence []store.Evidence, links []store.Link) error {
	if a.ID == "" {
		return errors.New("sqlstore: create account: empty id")
	}
	err := s.tx(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, s.q(`INSERT INTO accounts (`+accountColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			a.ID, nullable(a.IDNumberHash), blob(a.IDNumberSealed), blob(a.NameSealed),
			nullable(a.PhoneHash), blob(a.PhoneSealed), a.PasswordHash, a.Portal,
			s.t(a.CreatedAt), s.t(a.UpdatedAt), a.Version)
		if err != nil {
			return s.mapErr(err)
		}
		for _, e := range evidence {
			if e.AccountID != "" && e.AccountID != a.ID {
				return fmt.Errorf("evidence for account %q given with account %q", e.AccountID, a.ID)
			}
			e.AccountID = a.ID
			if err := s.addEvidence(ctx, q, e); err != nil {
				return err
			}
		}
		for _, l := range links {
			if l.AccountID != "" && l.AccountID != a.ID {
				return fmt.Errorf("link for account %q given with account %q", l.AccountID, a.ID)
			}
			l.AccountID = a.ID
			if err := s.createLink(ctx, q, l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore: create account: %w", err)
	}
	return nil
}

// GetAccount returns the account with the given id.
func (s *Store) GetAccount(ctx context.Context, id string) (store.Account, error) {
	return s.getAccount(ctx, "get account", `id = ?`, id)
}

// GetAccountByIDNumber returns the account with the given ID number hash.
func (s *Store) GetAccountByIDNumber(ctx context.Context, idNumberHash string) (store.Account, error) {
	return s.getAccount(ctx, "get account by id number", `id_number_hash = ?`, idNumberHash)
}

// GetAccountByPhone returns the account with the given phone hash.
func (s *Store) GetAccountByPhone(ctx context.Context, phoneHash string) (store.Account, error) {
	return s.getAccount(ctx, "get account by phone", `phone_hash = ?`, phoneHash)
}

func (s *Store) getAccount(ctx context.Context, step, where, arg string) (store.Account, error) {
	var (
		a                 store.Account
		idHash, phoneHash sql.NullString
	)
	err := s.rs.QueryRowContext(ctx, s.q(`SELECT `+accountColumns+` FROM accounts WHERE `+where), arg).Scan(
		&a.ID, &idHash, &a.IDNumberSealed, &a.NameSealed, &phoneHash, &a.PhoneSealed,
		&a.PasswordHash, &a.Portal, tc(&a.CreatedAt), tc(&a.UpdatedAt), &a.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Account{}, fmt.Errorf("sqlstore: %s: %w", step, store.ErrNotFound)
	}
	if err != nil {
		return store.Account{}, fmt.Errorf("sqlstore: %s: %w", step, err)
	}
	a.IDNumberHash, a.PhoneHash = idHash.String, phoneHash.String
	a.IDNumberSealed, a.NameSealed, a.PhoneSealed = unblob(a.IDNumberSealed), unblob(a.NameSealed), unblob(a.PhoneSealed)
	return a, nil
}

// UpdateAccount replaces an account whose stored version is a.Version.
func (s *Store) UpdateAccount(ctx context.Context, a store.Account) (store.Account, error) {
	next := a
	next.Version = a.Version + 1
	next.CreatedAt, next.UpdatedAt = norm(a.CreatedAt), norm(a.UpdatedAt)
	err := s.tx(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, s.q(`UPDATE accounts SET
				id_number_hash = ?, id_number_sealed = ?, name_sealed = ?, phone_hash = ?, phone_sealed = ?,
				password_hash = ?, portal = ?, created_at = ?, updated_at = ?, version = ?
			WHERE id = ? AND version = ?`),
			nullable(a.IDNumberHash), blob(a.IDNumberSealed), blob(a.NameSealed),
			nullable(a.PhoneHash), blob(a.PhoneSealed), a.PasswordHash, a.Portal,
			s.t(a.CreatedAt), s.t(a.UpdatedAt), next.Version, a.ID, a.Version)
		if err != nil {
			return s.mapErr(err)
		}
		return s.versionMiss(ctx, q, res, `accounts`, a.ID)
	})
	if err != nil {
		return store.Account{}, fmt.Errorf("sqlstore: update account: %w", err)
	}
	return next, nil
}

// versionMiss turns an optimistic update that changed no row into
// ErrNotFound (no such id) or ErrConflict (the version moved).
func (s *Store) versionMiss(ctx context.Context, q querier, res sql.Result, table, id string) error {
	ok, err := affected(res)
	if err != nil || ok {
		return err
	}
	var n int
	if err := q.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM `+table+` WHERE id = ?`), id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return store.ErrConflict
}

// AddEvidence records one more verification of an account.
func (s *Store) AddEvidence(ctx context.Context, e store.Evidence) error {
	if err := s.addEvidence(ctx, s.ws, e); err != nil {
		return fmt.Errorf("sqlstore: add evidence: %w", err)
	}
	return nil
}

func (s *Store) addEvidence(ctx context.Context, q querier, e store.Evidence) error {
	_, err := q.ExecContext(ctx, s.q(`INSERT INTO evidence (account_id, provider, level, reference, verified_at)
		VALUES (?, ?, ?, ?, ?)`), e.AccountID, e.Provider, e.Level, e.Reference, s.t(e.VerifiedAt))
	return s.mapErr(err)
}

// ListEvidence returns an account's evidence, oldest first.
func (s *Store) ListEvidence(ctx context.Context, accountID string) ([]store.Evidence, error) {
	rows, err := s.rs.QueryContext(ctx, s.q(`SELECT account_id, provider, level, reference, verified_at
		FROM evidence WHERE account_id = ? ORDER BY verified_at, id`), accountID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list evidence: %w", err)
	}
	defer rows.Close()
	var out []store.Evidence
	for rows.Next() {
		var e store.Evidence
		if err := rows.Scan(&e.AccountID, &e.Provider, &e.Level, &e.Reference, tc(&e.VerifiedAt)); err != nil {
			return nil, fmt.Errorf("sqlstore: list evidence: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list evidence: %w", err)
	}
	return out, nil
}

// CreateLink ties a provider subject to an account.
func (s *Store) CreateLink(ctx context.Context, l store.Link) error {
	if err := s.createLink(ctx, s.ws, l); err != nil {
		return fmt.Errorf("sqlstore: create link: %w", err)
	}
	return nil
}

func (s *Store) createLink(ctx context.Context, q querier, l store.Link) error {
	_, err := q.ExecContext(ctx, s.q(`INSERT INTO links (provider, subject, account_id, created_at)
		VALUES (?, ?, ?, ?)`), l.Provider, l.Subject, l.AccountID, s.t(l.CreatedAt))
	return s.mapErr(err)
}

// GetLink returns the link of a provider subject.
func (s *Store) GetLink(ctx context.Context, provider, subject string) (store.Link, error) {
	var l store.Link
	err := s.rs.QueryRowContext(ctx, s.q(`SELECT provider, subject, account_id, created_at
		FROM links WHERE provider = ? AND subject = ?`), provider, subject).Scan(
		&l.Provider, &l.Subject, &l.AccountID, tc(&l.CreatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Link{}, fmt.Errorf("sqlstore: get link: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Link{}, fmt.Errorf("sqlstore: get link: %w", err)
	}
	return l, nil
}

// ListLinks returns an account's links, oldest first.
func (s *Store) ListLinks(ctx context.Context, accountID string) ([]store.Link, error) {
	rows, err := s.rs.QueryContext(ctx, s.q(`SELECT provider, subject, account_id, created_at
		FROM links WHERE account_id = ? ORDER BY created_at, provider, subject`), accountID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list links: %w", err)
	}
	defer rows.Close()
	var out []store.Link
	for rows.Next() {
		var l store.Link
		if err := rows.Scan(&l.Provider, &l.Subject, &l.AccountID, tc(&l.CreatedAt)); err != nil {
			return nil, fmt.Errorf("sqlstore: list links: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list links: %w", err)
	}
	return out, nil
}
