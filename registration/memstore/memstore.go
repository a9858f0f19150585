// Package memstore is an in-memory registration.Store, for tests and for
// running without a database. Everything is lost when the process ends.
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/catalog"
)

type appKey struct{ exam, account string }

// Store is a registration.Store behind one mutex. The zero value is not
// usable; call New.
type Store struct {
	mu        sync.Mutex
	exams     map[string]catalog.Exam
	areas     map[string][]catalog.Area     // by exam
	units     map[string][]catalog.Unit     // by exam
	positions map[string][]catalog.Position // by exam
	apps      map[appKey]registration.Application
	counters  map[string]int64 // exam -> last Submit number
}

// New returns an empty store.
func New() *Store {
	return &Store{
		exams:     map[string]catalog.Exam{},
		areas:     map[string][]catalog.Area{},
		units:     map[string][]catalog.Unit{},
		positions: map[string][]catalog.Position{},
		apps:      map[appKey]registration.Application{},
		counters:  map[string]int64{},
	}
}

// ImportCatalog implements registration.Store.
func (s *Store) ImportCatalog(ctx context.Context, c catalog.Catalog) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("memstore: import catalog: %w", err)
	}
	c = clone(c)
	c.Sort()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Check everything before changing anything.
	for _, e := range c.Exams {
		keep := map[string]bool{}
		for _, p := range c.Positions {
			if p.ExamCode == e.Code {
				keep[p.Code] = true
			}
		}
		var gone []string
		for k, a := range s.apps {
			if k.exam == e.Code && a.PositionCode != "" && !keep[a.PositionCode] && !slices.Contains(gone, a.PositionCode) {
				gone = append(gone, a.PositionCode)
			}
		}
		if len(gone) > 0 {
			slices.Sort(gone)
			return &registration.PositionInUseError{ExamCode: e.Code, Positions: gone}
		}
	}
	for _, e := range c.Exams {
		s.exams[e.Code] = e
		s.areas[e.Code] = nil
		s.units[e.Code] = nil
		s.positions[e.Code] = nil
	}
	for _, a := range c.Areas {
		s.areas[a.ExamCode] = append(s.areas[a.ExamCode], a)
	}
	for _, u := range c.Units {
		s.units[u.ExamCode] = append(s.units[u.ExamCode], u)
	}
	for _, p := range c.Positions {
		s.positions[p.ExamCode] = append(s.positions[p.ExamCode], p)
	}
	return nil
}

// clone copies the slices of a catalog so that the caller's later changes
// do not reach the store.
func clone(c catalog.Catalog) catalog.Catalog {
	out := catalog.Catalog{
		Exams:     slices.Clone(c.Exams),
		Areas:     slices.Clone(c.Areas),
		Units:     slices.Clone(c.Units),
		Positions: slices.Clone(c.Positions),
	}
	for i, p := range out.Positions {
		r := &out.Positions[i].Requirements
		r.Majors = slices.Clone(p.Requirements.Majors)
		r.Political = slices.Clone(p.Requirements.Political)
		r.Household = slices.Clone(p.Requirements.Household)
	}
	return out
}

// Exams implements registration.Store.
func (s *Store) Exams(ctx context.Context) ([]catalog.Exam, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]catalog.Exam, 0, len(s.exams))
	for _, e := range s.exams {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b catalog.Exam) int { return strings.Compare(a.Code, b.Code) })
	return out, nil
}

// Exam implements registration.Store.
func (s *Store) Exam(ctx context.Context, code string) (catalog.Exam, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.exams[code]
	if !ok {
		return catalog.Exam{}, fmt.Errorf("memstore: exam %q: %w", code, registration.ErrNotFound)
	}
	return e, nil
}

// Catalog implements registration.Store.
func (s *Store) Catalog(ctx context.Context, exam string) (catalog.Catalog, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.exams[exam]
	if !ok {
		return catalog.Catalog{}, fmt.Errorf("memstore: exam %q: %w", exam, registration.ErrNotFound)
	}
	return clone(catalog.Catalog{
		Exams: []catalog.Exam{e}, Areas: s.areas[exam], Units: s.units[exam], Positions: s.positions[exam],
	}), nil
}

// Areas implements registration.Store.
func (s *Store) Areas(ctx context.Context, exam string) ([]catalog.Area, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.areas[exam]), nil
}

// Units implements registration.Store.
func (s *Store) Units(ctx context.Context, exam, area string) ([]catalog.Unit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []catalog.Unit
	for _, u := range s.units[exam] {
		if u.AreaCode == area {
			out = append(out, u)
		}
	}
	return out, nil
}

// Positions implements registration.Store.
func (s *Store) Positions(ctx context.Context, exam, unit string) ([]catalog.Position, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []catalog.Position
	for _, p := range s.positions[exam] {
		if p.UnitCode == unit {
			out = append(out, p)
		}
	}
	return clone(catalog.Catalog{Positions: out}).Positions, nil
}

// Position implements registration.Store.
func (s *Store) Position(ctx context.Context, exam, code string) (catalog.Position, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.positions[exam] {
		if p.Code == code {
			return clone(catalog.Catalog{Positions: []catalog.Position{p}}).Positions[0], nil
		}
	}
	return catalog.Position{}, fmt.Errorf("memstore: position %q: %w", code, registration.ErrNotFound)
}

// CreateApplication implements registration.Store.
func (s *Store) CreateApplication(ctx context.Context, a registration.Application) (registration.Application, error) {
	if a.Step == registration.StepComplete || !a.Step.Valid() {
		return registration.Application{}, fmt.Errorf("memstore: create application at step %v: %w", a.Step, registration.ErrWrongStep)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.exams[a.ExamCode]; !ok {
		return registration.Application{}, fmt.Errorf("memstore: exam %q: %w", a.ExamCode, registration.ErrNotFound)
	}
	k := appKey{a.ExamCode, a.AccountID}
	if _, ok := s.apps[k]; ok {
		return registration.Application{}, fmt.Errorf("memstore: create application: %w", registration.ErrExists)
	}
	a = a.Clone()
	a.Version = 1
	a.Number = 0
	a.SubmittedAt = time.Time{}
	s.apps[k] = a
	return a.Clone(), nil
}

// Application implements registration.Store.
func (s *Store) Application(ctx context.Context, exam, accountID string) (registration.Application, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[appKey{exam, accountID}]
	if !ok {
		return registration.Application{}, fmt.Errorf("memstore: application: %w", registration.ErrNotFound)
	}
	return a.Clone(), nil
}

// UpdateApplication implements registration.Store.
func (s *Store) UpdateApplication(ctx context.Context, a registration.Application) (registration.Application, error) {
	if a.Step == registration.StepComplete || !a.Step.Valid() {
		return registration.Application{}, fmt.Errorf("memstore: update application to step %v: %w", a.Step, registration.ErrWrongStep)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := appKey{a.ExamCode, a.AccountID}
	old, ok := s.apps[k]
	switch {
	case !ok:
		return registration.Application{}, fmt.Errorf("memstore: update application: %w", registration.ErrNotFound)
	case old.Step == registration.StepComplete:
		return registration.Application{}, fmt.Errorf("memstore: update application: %w", registration.ErrSubmitted)
	case old.Version != a.Version:
		return registration.Application{}, fmt.Errorf("memstore: update application: %w", registration.ErrConflict)
	}
	a = a.Clone()
	a.Version++
	a.Number = old.Number
	a.SubmittedAt = old.SubmittedAt
	a.CreatedAt = old.CreatedAt
	s.apps[k] = a
	return a.Clone(), nil
}

// Submit implements registration.Store.
func (s *Store) Submit(ctx context.Context, exam, accountID string, at time.Time) (registration.Application, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := appKey{exam, accountID}
	a, ok := s.apps[k]
	switch {
	case !ok:
		return registration.Application{}, false, fmt.Errorf("memstore: submit: %w", registration.ErrNotFound)
	case a.Step == registration.StepComplete:
		return a.Clone(), false, nil
	case a.Step != registration.StepConfirm:
		return registration.Application{}, false, fmt.Errorf("memstore: submit at step %v: %w", a.Step, registration.ErrWrongStep)
	}
	s.counters[exam]++
	a.Number = s.counters[exam]
	a.Step = registration.StepComplete
	a.SubmittedAt = at
	a.UpdatedAt = at
	a.Version++
	s.apps[k] = a
	return a.Clone(), true, nil
}

// ListApplications implements registration.Store.
func (s *Store) ListApplications(ctx context.Context, exam string, opts registration.ListOptions) ([]registration.Application, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = 500
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []registration.Application
	for k, a := range s.apps {
		if k.exam != exam || k.account <= opts.After || (opts.CompleteOnly && a.Step != registration.StepComplete) {
			continue
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b registration.Application) int { return strings.Compare(a.AccountID, b.AccountID) })
	if len(out) > limit {
		out = out[:limit]
	}
	for i := range out {
		out[i] = out[i].Clone()
	}
	return out, nil
}

// PositionCounts implements registration.Store.
func (s *Store) PositionCounts(ctx context.Context, exam string) ([]registration.PositionCount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	by := map[string]*registration.PositionCount{}
	for k, a := range s.apps {
		if k.exam != exam || a.PositionCode == "" {
			continue
		}
		pc := by[a.PositionCode]
		if pc == nil {
			pc = &registration.PositionCount{PositionCode: a.PositionCode}
			by[a.PositionCode] = pc
		}
		pc.Applicants++
		if a.Review.Outcome == registration.OutcomePassed {
			pc.Passed++
		}
		if a.Step == registration.StepComplete {
			pc.Submitted++
		}
	}
	out := make([]registration.PositionCount, 0, len(by))
	for _, pc := range by {
		out = append(out, *pc)
	}
	slices.SortFunc(out, func(a, b registration.PositionCount) int { return cmp.Compare(a.PositionCode, b.PositionCode) })
	return out, nil
}

// StepCounts implements registration.Store.
func (s *Store) StepCounts(ctx context.Context) (map[registration.Step]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[registration.Step]int{}
	for _, a := range s.apps {
		out[a.Step]++
	}
	return out, nil
}

var _ registration.Store = (*Store)(nil)
