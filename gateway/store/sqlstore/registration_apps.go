package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shiming-id/shiming/registration"
)

const appColumns = `exam_code, account_id, portal, step, profile, position_code,
	review_outcome, review_position_code, review_reasons, review_at,
	pledged_at, notice_at, terms_accepted_at, submitted_at, number, created_at, updated_at, version`

// scanApp reads appColumns.
func scanApp(r rowScanner) (registration.Application, error) {
	var (
		a                registration.Application
		step             int
		profile, reasons []byte
		position         sql.NullString
		outcome          string
		number           sql.NullInt64
	)
	err := r.Scan(&a.ExamCode, &a.AccountID, &a.Portal, &step, &profile, &position,
		&outcome, &a.Review.PositionCode, &reasons, nullTimeCol{&a.Review.At},
		nullTimeCol{&a.PledgedAt}, nullTimeCol{&a.NoticeAt}, nullTimeCol{&a.TermsAcceptedAt}, nullTimeCol{&a.SubmittedAt},
		&number, tc(&a.CreatedAt), tc(&a.UpdatedAt), &a.Version)
	if err != nil {
		return registration.Application{}, err
	}
	a.Step, a.PositionCode, a.Review.Outcome, a.Number = registration.Step(step), position.String, registration.Outcome(outcome), number.Int64
	if err := json.Unmarshal(profile, &a.Profile); err != nil {
		return registration.Application{}, fmt.Errorf("decode profile: %w", err)
	}
	if err := json.Unmarshal(reasons, &a.Review.Reasons); err != nil {
		return registration.Application{}, fmt.Errorf("decode review reasons: %w", err)
	}
	return a, nil
}

// appJSON encodes the JSON columns of an application.
func appJSON(a registration.Application) (profile, reasons string, err error) {
	p, err := json.Marshal(a.Profile)
	if err != nil {
		return "", "", fmt.Errorf("encode profile: %w", err)
	}
	r, err := json.Marshal(a.Review.Reasons)
	if err != nil {
		return "", "", fmt.Errorf("encode review reasons: %w", err)
	}
	return string(p), string(r), nil
}

// normApp returns a copy of a with its times as the store keeps them
// (UTC, whole microseconds), which is what a later read returns.
func normApp(a registration.Application) registration.Application {
	a = a.Clone()
	for _, t := range []*time.Time{&a.Review.At, &a.PledgedAt, &a.NoticeAt, &a.TermsAcceptedAt, &a.SubmittedAt, &a.CreatedAt, &a.UpdatedAt} {
		*t = norm(*t)
	}
	return a
}

// regErr turns constraint errors of the applications table into
// registration's errors: a duplicate key is ErrExists, a missing exam or
// position ErrNotFound.
func (s *Store) regErr(err error) error {
	switch {
	case err == nil:
		return nil
	case s.flavor.IsUniqueViolation(err):
		return fmt.Errorf("%w (%v)", registration.ErrExists, err)
	case s.flavor.IsForeignKeyViolation(err):
		return fmt.Errorf("%w: no such exam or position (%v)", registration.ErrNotFound, err)
	}
	return err
}

// writable refuses the steps that only Submit may set.
func writable(step registration.Step) error {
	if step == registration.StepComplete || !step.Valid() {
		return fmt.Errorf("step %v: %w", step, registration.ErrWrongStep)
	}
	return nil
}

// CreateApplication implements registration.Store. The primary key
// makes concurrent creates for one account and exam store one.
func (s *Store) CreateApplication(ctx context.Context, a registration.Application) (registration.Application, error) {
	if err := writable(a.Step); err != nil {
		return registration.Application{}, fmt.Errorf("sqlstore: create application: %w", err)
	}
	a = normApp(a)
	a.Version, a.Number, a.SubmittedAt = 1, 0, time.Time{}
	profile, reasons, err := appJSON(a)
	if err != nil {
		return registration.Application{}, fmt.Errorf("sqlstore: create application: %w", err)
	}
	_, err = s.ws.ExecContext(ctx, s.q(`INSERT INTO reg_applications (`+appColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)`),
		a.ExamCode, a.AccountID, a.Portal, int(a.Step), profile, nullable(a.PositionCode),
		string(a.Review.Outcome), a.Review.PositionCode, reasons, s.nullTime(a.Review.At),
		s.nullTime(a.PledgedAt), s.nullTime(a.NoticeAt), s.nullTime(a.TermsAcceptedAt),
		s.t(a.CreatedAt), s.t(a.UpdatedAt), a.Version)
	if err != nil {
		return registration.Application{}, fmt.Errorf("sqlstore: create application: %w", s.regErr(err))
	}
	return a, nil
}

// Application implements registration.Store.
func (s *Store) Application(ctx context.Context, exam, accountID string) (registration.Application, error) {
	a, err := scanApp(s.rs.QueryRowContext(ctx, s.q(`SELECT `+appColumns+` FROM reg_applications
		WHERE exam_code = ? AND account_id = ?`), exam, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		err = registration.ErrNotFound
	}
	if err != nil {
		return registration.Application{}, fmt.Errorf("sqlstore: application: %w", err)
	}
	return a, nil
}

// UpdateApplication implements registration.Store. The version compare
// and the write are one statement, so of concurrent updates from one
// version exactly one wins; only a miss costs a second query, to say why.
func (s *Store) UpdateApplication(ctx context.Context, a registration.Application) (registration.Application, error) {
	if err := writable(a.Step); err != nil {
		return registration.Application{}, fmt.Errorf("sqlstore: update application: %w", err)
	}
	a = normApp(a)
	profile, reasons, err := appJSON(a)
	if err != nil {
		return registration.Application{}, fmt.Errorf("sqlstore: update application: %w", err)
	}
	// Only Submit sets number and submitted_at, together with step 9,
	// which this statement never matches: on a row it updates both are
	// unset.
	err = s.ws.QueryRowContext(ctx, s.q(`UPDATE reg_applications SET
			portal = ?, step = ?, profile = ?, position_code = ?,
			review_outcome = ?, review_position_code = ?, review_reasons = ?, review_at = ?,
			pledged_at = ?, notice_at = ?, terms_accepted_at = ?, updated_at = ?, version = version + 1
		WHERE exam_code = ? AND account_id = ? AND version = ? AND step <> 9
		RETURNING created_at`),
		a.Portal, int(a.Step), profile, nullable(a.PositionCode),
		string(a.Review.Outcome), a.Review.PositionCode, reasons, s.nullTime(a.Review.At),
		s.nullTime(a.PledgedAt), s.nullTime(a.NoticeAt), s.nullTime(a.TermsAcceptedAt), s.t(a.UpdatedAt),
		a.ExamCode, a.AccountID, a.Version).Scan(tc(&a.CreatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		err = s.updateMiss(ctx, a.ExamCode, a.AccountID)
	}
	if err != nil {
		return registration.Application{}, fmt.Errorf("sqlstore: update application: %w", s.regErr(err))
	}
	a.Version++
	a.Number, a.SubmittedAt = 0, time.Time{}
	return a, nil
}

// updateMiss says why an update matched no row.
func (s *Store) updateMiss(ctx context.Context, exam, accountID string) error {
	var step int
	err := s.rs.QueryRowContext(ctx, s.q(`SELECT step FROM reg_applications WHERE exam_code = ? AND account_id = ?`),
		exam, accountID).Scan(&step)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return registration.ErrNotFound
	case err != nil:
		return err
	case registration.Step(step) == registration.StepComplete:
		return registration.ErrSubmitted
	}
	return registration.ErrConflict
}

// Submit implements registration.Store. The application's row is locked
// first (FOR UPDATE on PostgreSQL; SQLite's write transactions exclude
// each other), so a concurrent Submit of the same application waits and
// then finds it complete; the exam's counter row is locked second, which
// serializes numbering within an exam and, always taken in that order,
// cannot deadlock.
func (s *Store) Submit(ctx context.Context, exam, accountID string, at time.Time) (registration.Application, bool, error) {
	var (
		a         registration.Application
		submitted bool
	)
	at = norm(at)
	err := s.tx(ctx, func(q querier) error {
		var err error
		a, err = scanApp(q.QueryRowContext(ctx, s.q(`SELECT `+appColumns+` FROM reg_applications
			WHERE exam_code = ? AND account_id = ?`+s.flavor.LockRow), exam, accountID))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return registration.ErrNotFound
		case err != nil:
			return err
		case a.Step == registration.StepComplete:
			return nil
		case a.Step != registration.StepConfirm:
			return fmt.Errorf("at step %v: %w", a.Step, registration.ErrWrongStep)
		}
		var number int64
		err = q.QueryRowContext(ctx, s.q(`UPDATE reg_exams SET next_number = next_number + 1 WHERE code = ?
			RETURNING next_number - 1`), exam).Scan(&number)
		if err != nil {
			return fmt.Errorf("next number: %w", err)
		}
		_, err = q.ExecContext(ctx, s.q(`UPDATE reg_applications SET
				step = ?, number = ?, submitted_at = ?, updated_at = ?, version = version + 1
			WHERE exam_code = ? AND account_id = ?`),
			int(registration.StepComplete), number, s.nullTime(at), s.t(at), exam, accountID)
		if err != nil {
			return err
		}
		a.Step, a.Number, a.SubmittedAt, a.UpdatedAt = registration.StepComplete, number, at, at
		a.Version++
		submitted = true
		return nil
	})
	if err != nil {
		return registration.Application{}, false, fmt.Errorf("sqlstore: submit: %w", err)
	}
	return a, submitted, nil
}

// ListApplications implements registration.Store. Pages follow the
// primary key (or, for complete ones, the step index), so a page costs
// its own rows whatever its depth.
func (s *Store) ListApplications(ctx context.Context, exam string, opts registration.ListOptions) ([]registration.Application, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = 500
	}
	query := `SELECT ` + appColumns + ` FROM reg_applications WHERE exam_code = ? AND account_id > ?`
	args := []any{exam, opts.After}
	if opts.CompleteOnly {
		query += ` AND step = ?`
		args = append(args, int(registration.StepComplete))
	}
	query += ` ORDER BY account_id LIMIT ?`
	args = append(args, limit)
	out, err := queryAll(ctx, s.rs, s.q(query), scanApp, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list applications: %w", err)
	}
	return out, nil
}

// PositionCounts implements registration.Store, from the covering
// position index.
func (s *Store) PositionCounts(ctx context.Context, exam string) ([]registration.PositionCount, error) {
	out, err := queryAll(ctx, s.rs, s.q(`SELECT position_code, COUNT(*),
			COUNT(*) FILTER (WHERE review_outcome = ?), COUNT(*) FILTER (WHERE step = ?)
		FROM reg_applications WHERE exam_code = ? AND position_code IS NOT NULL
		GROUP BY position_code ORDER BY position_code`),
		func(r rowScanner) (registration.PositionCount, error) {
			var c registration.PositionCount
			err := r.Scan(&c.PositionCode, &c.Applicants, &c.Passed, &c.Submitted)
			return c, err
		}, string(registration.OutcomePassed), int(registration.StepComplete), exam)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: position counts: %w", err)
	}
	return out, nil
}

// StepCounts implements registration.Store.
func (s *Store) StepCounts(ctx context.Context) (map[registration.Step]int, error) {
	rows, err := s.rs.QueryContext(ctx, `SELECT step, COUNT(*) FROM reg_applications GROUP BY step`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: step counts: %w", err)
	}
	defer rows.Close()
	out := map[registration.Step]int{}
	for rows.Next() {
		var step, n int
		if err := rows.Scan(&step, &n); err != nil {
			return nil, fmt.Errorf("sqlstore: step counts: %w", err)
		}
		out[registration.Step(step)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: step counts: %w", err)
	}
	return out, nil
}
