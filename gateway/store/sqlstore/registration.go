package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/catalog"
)

// The registration tables (migration 0002) hold the exam catalog and the
// applications; the methods in this file and registration_apps.go make
// *Store a registration.Store.

// ImportCatalog implements registration.Store. It runs in one write
// transaction: every exam is checked first, then each exam is upserted
// (keeping its Submit counter) and its areas, units and positions are
// upserted and the ones missing from c deleted. A chosen position is
// also protected by a foreign key, so an application that chooses it
// while the import runs makes the import fail rather than dangle.
//
// The exam's row stays locked until the import commits: imports of one
// exam run one at a time, and its Submits wait for them (applications
// are created and updated meanwhile).
func (s *Store) ImportCatalog(ctx context.Context, c catalog.Catalog) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("sqlstore: import catalog: %w", err)
	}
	// Sort copies: the caller's slices stay in their order. Exams in code
	// order also make concurrent imports lock them in the same order.
	c = catalog.Catalog{
		Exams: slices.Clone(c.Exams), Areas: slices.Clone(c.Areas),
		Units: slices.Clone(c.Units), Positions: slices.Clone(c.Positions),
	}
	c.Sort()
	err := s.tx(ctx, func(q querier) error {
		for _, e := range c.Exams {
			if err := s.checkPositionsInUse(ctx, q, e.Code, c.Positions); err != nil {
				return err
			}
		}
		for _, e := range c.Exams {
			if err := s.replaceExam(ctx, q, e, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore: import catalog: %w", err)
	}
	return nil
}

// checkPositionsInUse fails with *registration.PositionInUseError if an
// application of exam has chosen a position missing from positions.
func (s *Store) checkPositionsInUse(ctx context.Context, q querier, exam string, positions []catalog.Position) error {
	keep := map[string]bool{}
	for _, p := range positions {
		if p.ExamCode == exam {
			keep[p.Code] = true
		}
	}
	chosen, err := queryAll(ctx, q, s.q(`SELECT DISTINCT position_code FROM reg_applications
		WHERE exam_code = ? AND position_code IS NOT NULL ORDER BY position_code`), scanString, exam)
	if err != nil {
		return fmt.Errorf("positions in use: %w", err)
	}
	gone := slices.DeleteFunc(chosen, func(code string) bool { return keep[code] })
	if len(gone) > 0 {
		return &registration.PositionInUseError{ExamCode: exam, Positions: gone}
	}
	return nil
}

// replaceExam makes one exam's rows those of c: parents are upserted
// before children, and stale children deleted before their parents.
func (s *Store) replaceExam(ctx context.Context, q querier, e catalog.Exam, c catalog.Catalog) error {
	_, err := q.ExecContext(ctx, s.q(`INSERT INTO reg_exams (code, name, start_at, end_at, age_reference)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (code) DO UPDATE SET name = excluded.name, start_at = excluded.start_at,
			end_at = excluded.end_at, age_reference = excluded.age_reference`),
		e.Code, e.Name, s.t(e.Start), s.t(e.End), s.t(e.AgeReference))
	if err != nil {
		return fmt.Errorf("exam %q: %w", e.Code, err)
	}

	areas := map[string]bool{}
	for _, a := range c.Areas {
		if a.ExamCode != e.Code {
			continue
		}
		areas[a.Code] = true
		_, err := q.ExecContext(ctx, s.q(`INSERT INTO reg_areas (exam_code, code, name) VALUES (?, ?, ?)
			ON CONFLICT (exam_code, code) DO UPDATE SET name = excluded.name`), a.ExamCode, a.Code, a.Name)
		if err != nil {
			return fmt.Errorf("area %q of exam %q: %w", a.Code, e.Code, err)
		}
	}
	units := map[string]bool{}
	for _, u := range c.Units {
		if u.ExamCode != e.Code {
			continue
		}
		units[u.Code] = true
		_, err := q.ExecContext(ctx, s.q(`INSERT INTO reg_units (exam_code, code, area_code, name) VALUES (?, ?, ?, ?)
			ON CONFLICT (exam_code, code) DO UPDATE SET area_code = excluded.area_code, name = excluded.name`),
			u.ExamCode, u.Code, u.AreaCode, u.Name)
		if err != nil {
			return fmt.Errorf("unit %q of exam %q: %w", u.Code, e.Code, err)
		}
	}
	positions := map[string]bool{}
	for _, p := range c.Positions {
		if p.ExamCode != e.Code {
			continue
		}
		positions[p.Code] = true
		req, err := json.Marshal(p.Requirements)
		if err != nil {
			return fmt.Errorf("position %q of exam %q: encode requirements: %w", p.Code, e.Code, err)
		}
		_, err = q.ExecContext(ctx, s.q(`INSERT INTO reg_positions
			(exam_code, code, area_code, unit_code, name, headcount, requirements) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (exam_code, code) DO UPDATE SET area_code = excluded.area_code, unit_code = excluded.unit_code,
				name = excluded.name, headcount = excluded.headcount, requirements = excluded.requirements`),
			p.ExamCode, p.Code, p.AreaCode, p.UnitCode, p.Name, p.Headcount, string(req))
		if err != nil {
			return fmt.Errorf("position %q of exam %q: %w", p.Code, e.Code, err)
		}
	}

	for _, t := range []struct {
		table string
		keep  map[string]bool
	}{{"reg_positions", positions}, {"reg_units", units}, {"reg_areas", areas}} {
		codes, err := queryAll(ctx, q, s.q(`SELECT code FROM `+t.table+` WHERE exam_code = ?`), scanString, e.Code)
		if err != nil {
			return fmt.Errorf("%s of exam %q: %w", t.table, e.Code, err)
		}
		for _, code := range codes {
			if t.keep[code] {
				continue
			}
			_, err := q.ExecContext(ctx, s.q(`DELETE FROM `+t.table+` WHERE exam_code = ? AND code = ?`), e.Code, code)
			if t.table == "reg_positions" && err != nil && s.flavor.IsForeignKeyViolation(err) {
				// Chosen since checkPositionsInUse looked.
				return &registration.PositionInUseError{ExamCode: e.Code, Positions: []string{code}}
			}
			if err != nil {
				return fmt.Errorf("delete from %s of exam %q: %w", t.table, e.Code, err)
			}
		}
	}
	return nil
}

const examColumns = `code, name, start_at, end_at, age_reference`

// scanExam reads examColumns. Exam times come back in the catalog's zone
// (Asia/Shanghai), as they were written: the age reference day and the
// window are shown and compared as China dates.
func scanExam(r rowScanner) (catalog.Exam, error) {
	var e catalog.Exam
	if err := r.Scan(&e.Code, &e.Name, tc(&e.Start), tc(&e.End), tc(&e.AgeReference)); err != nil {
		return catalog.Exam{}, err
	}
	loc := catalog.Location()
	e.Start, e.End, e.AgeReference = e.Start.In(loc), e.End.In(loc), e.AgeReference.In(loc)
	return e, nil
}

// Exams implements registration.Store.
func (s *Store) Exams(ctx context.Context) ([]catalog.Exam, error) {
	out, err := queryAll(ctx, s.rs, `SELECT `+examColumns+` FROM reg_exams ORDER BY code`, scanExam)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: exams: %w", err)
	}
	return out, nil
}

// Exam implements registration.Store.
func (s *Store) Exam(ctx context.Context, code string) (catalog.Exam, error) {
	e, err := s.exam(ctx, s.rs, code)
	if err != nil {
		return catalog.Exam{}, fmt.Errorf("sqlstore: exam %q: %w", code, err)
	}
	return e, nil
}

func (s *Store) exam(ctx context.Context, q querier, code string) (catalog.Exam, error) {
	e, err := scanExam(q.QueryRowContext(ctx, s.q(`SELECT `+examColumns+` FROM reg_exams WHERE code = ?`), code))
	if errors.Is(err, sql.ErrNoRows) {
		return catalog.Exam{}, registration.ErrNotFound
	}
	return e, err
}

// Catalog implements registration.Store. It reads in one snapshot, so a
// concurrent import is seen whole or not at all.
func (s *Store) Catalog(ctx context.Context, exam string) (catalog.Catalog, error) {
	// SQLite's deferred read transaction is a snapshot already; the
	// isolation level is for PostgreSQL.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return catalog.Catalog{}, fmt.Errorf("sqlstore: catalog %q: %w", exam, err)
	}
	defer func() { _ = tx.Rollback() }()
	var c catalog.Catalog
	e, err := s.exam(ctx, tx, exam)
	if err == nil {
		c.Exams = []catalog.Exam{e}
		c.Areas, err = queryAll(ctx, tx, s.q(`SELECT `+areaColumns+` FROM reg_areas WHERE exam_code = ? ORDER BY code`), scanArea, exam)
	}
	if err == nil {
		c.Units, err = queryAll(ctx, tx, s.q(`SELECT `+unitColumns+` FROM reg_units WHERE exam_code = ? ORDER BY code`), scanUnit, exam)
	}
	if err == nil {
		c.Positions, err = queryAll(ctx, tx, s.q(`SELECT `+positionColumns+` FROM reg_positions WHERE exam_code = ? ORDER BY code`), scanPosition, exam)
	}
	if err != nil {
		return catalog.Catalog{}, fmt.Errorf("sqlstore: catalog %q: %w", exam, err)
	}
	return c, nil
}

const (
	areaColumns     = `exam_code, code, name`
	unitColumns     = `exam_code, code, area_code, name`
	positionColumns = `exam_code, code, area_code, unit_code, name, headcount, requirements`
)

func scanArea(r rowScanner) (catalog.Area, error) {
	var a catalog.Area
	err := r.Scan(&a.ExamCode, &a.Code, &a.Name)
	return a, err
}

func scanUnit(r rowScanner) (catalog.Unit, error) {
	var u catalog.Unit
	err := r.Scan(&u.ExamCode, &u.Code, &u.AreaCode, &u.Name)
	return u, err
}

func scanPosition(r rowScanner) (catalog.Position, error) {
	var (
		p   catalog.Position
		req []byte
	)
	if err := r.Scan(&p.ExamCode, &p.Code, &p.AreaCode, &p.UnitCode, &p.Name, &p.Headcount, &req); err != nil {
		return catalog.Position{}, err
	}
	if err := json.Unmarshal(req, &p.Requirements); err != nil {
		return catalog.Position{}, fmt.Errorf("decode requirements of position %q: %w", p.Code, err)
	}
	return p, nil
}

// Areas implements registration.Store.
func (s *Store) Areas(ctx context.Context, exam string) ([]catalog.Area, error) {
	out, err := queryAll(ctx, s.rs, s.q(`SELECT `+areaColumns+` FROM reg_areas WHERE exam_code = ? ORDER BY code`), scanArea, exam)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: areas of exam %q: %w", exam, err)
	}
	return out, nil
}

// Units implements registration.Store.
func (s *Store) Units(ctx context.Context, exam, area string) ([]catalog.Unit, error) {
	out, err := queryAll(ctx, s.rs, s.q(`SELECT `+unitColumns+` FROM reg_units
		WHERE exam_code = ? AND area_code = ? ORDER BY code`), scanUnit, exam, area)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: units of exam %q: %w", exam, err)
	}
	return out, nil
}

// Positions implements registration.Store.
func (s *Store) Positions(ctx context.Context, exam, unit string) ([]catalog.Position, error) {
	out, err := queryAll(ctx, s.rs, s.q(`SELECT `+positionColumns+` FROM reg_positions
		WHERE exam_code = ? AND unit_code = ? ORDER BY code`), scanPosition, exam, unit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: positions of exam %q: %w", exam, err)
	}
	return out, nil
}

// Position implements registration.Store.
func (s *Store) Position(ctx context.Context, exam, code string) (catalog.Position, error) {
	p, err := scanPosition(s.rs.QueryRowContext(ctx, s.q(`SELECT `+positionColumns+` FROM reg_positions
		WHERE exam_code = ? AND code = ?`), exam, code))
	if errors.Is(err, sql.ErrNoRows) {
		err = registration.ErrNotFound
	}
	if err != nil {
		return catalog.Position{}, fmt.Errorf("sqlstore: position %q of exam %q: %w", code, exam, err)
	}
	return p, nil
}

// rowScanner is what *sql.Row and *sql.Rows share.
type rowScanner interface {
	Scan(dest ...any) error
}

// queryAll runs a query and scans every row with scan.
func queryAll[T any](ctx context.Context, q querier, query string, scan func(rowScanner) (T, error), args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func scanString(r rowScanner) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
}

// nullTime turns a time into the value the flavor stores, with the zero
// time as NULL: a moment that has not happened yet.
func (s *Store) nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.t(t)
}

// nullTimeCol scans a time column that may be NULL; NULL is the zero
// time.
type nullTimeCol struct{ t *time.Time }

func (c nullTimeCol) Scan(v any) error {
	if v == nil {
		*c.t = time.Time{}
		return nil
	}
	return timeCol(c).Scan(v)
}

var _ registration.Store = (*Store)(nil)
