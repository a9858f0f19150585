package registration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shiming-id/shiming/registration/catalog"
	"github.com/shiming-id/shiming/registration/review"
)

// Errors of the Service besides the Store's.
var (
	// ErrNotOpen: the exam's registration window is not open; the error is
	// a *WindowError.
	ErrNotOpen = errors.New("registration: registration is not open")
	// ErrIncomplete: step 3 was submitted before all four pages were saved.
	ErrIncomplete = errors.New("registration: personal information incomplete")
	// ErrNotAgreed: the pledge or the notice was submitted without its
	// checkbox ticked.
	ErrNotAgreed = errors.New("registration: terms not agreed")
	// ErrReviewChanged: at the final submit the position no longer admits
	// the candidate (the catalog changed); the application went back to
	// the review opinion.
	ErrReviewChanged = errors.New("registration: review no longer passes")
)

// WindowError says an exam's registration is not open. It matches
// ErrNotOpen.
type WindowError struct {
	Exam   catalog.Exam
	Window catalog.Window
}

func (e *WindowError) Error() string {
	if e.Window == catalog.WindowBefore {
		return "registration: exam " + e.Exam.Code + " not open yet"
	}
	return "registration: exam " + e.Exam.Code + " closed"
}

// Is makes errors.Is(err, ErrNotOpen) hold.
func (e *WindowError) Is(target error) bool { return target == ErrNotOpen }

// Config configures a Service. Store, Candidates and Auditor are required.
type Config struct {
	Store      Store
	Candidates Candidates
	Auditor    Auditor
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives operational logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the metrics; nil registers none. Never pass the
	// global registry in tests.
	Registerer prometheus.Registerer
	// Portals are the portal ids, so that every metric series exists at
	// zero from the start.
	Portals []string
}

// Service runs the registration steps. Every action checks the window,
// the step the stored application stands at, and saves the change with
// optimistic concurrency, so that no step can be skipped or done twice.
type Service struct {
	store      Store
	candidates Candidates
	auditor    Auditor
	now        func() time.Time
	log        *slog.Logger
	metrics    *metrics
}

// New returns a Service and registers its metrics.
func New(cfg Config) (*Service, error) {
	var missing []string
	if cfg.Store == nil {
		missing = append(missing, "Store")
	}
	if cfg.Candidates == nil {
		missing = append(missing, "Candidates")
	}
	if cfg.Auditor == nil {
		missing = append(missing, "Auditor")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("registration: config lacks %v", missing)
	}
	s := &Service{store: cfg.Store, candidates: cfg.Candidates, auditor: cfg.Auditor, now: cfg.Now, log: cfg.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer, cfg.Portals, cfg.Store, s.log)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	return s, nil
}

// Now returns the service's clock reading, truncated to the microsecond
// that stores keep.
func (s *Service) Now() time.Time { return s.now().Truncate(time.Microsecond) }

// Candidates returns the candidate directory the service was built with.
func (s *Service) Candidates() Candidates { return s.candidates }

// Exams returns every exam in code order.
func (s *Service) Exams(ctx context.Context) ([]catalog.Exam, error) {
	return s.store.Exams(ctx)
}

// Exam returns one exam, or an error wrapping ErrNotFound.
func (s *Service) Exam(ctx context.Context, code string) (catalog.Exam, error) {
	return s.store.Exam(ctx, code)
}

// Areas returns the areas of an exam.
func (s *Service) Areas(ctx context.Context, exam string) ([]catalog.Area, error) {
	return s.store.Areas(ctx, exam)
}

// Units returns the units of an area.
func (s *Service) Units(ctx context.Context, exam, area string) ([]catalog.Unit, error) {
	return s.store.Units(ctx, exam, area)
}

// Positions returns the positions of a unit.
func (s *Service) Positions(ctx context.Context, exam, unit string) ([]catalog.Position, error) {
	return s.store.Positions(ctx, exam, unit)
}

// Place is a position with its unit and area, for showing it.
type Place struct {
	Area     catalog.Area
	Unit     catalog.Unit
	Position catalog.Position
}

// Place returns a position with its unit and area.
func (s *Service) Place(ctx context.Context, exam, position string) (Place, error) {
	p, err := s.store.Position(ctx, exam, position)
	if err != nil {
		return Place{}, err
	}
	pl := Place{Position: p}
	areas, err := s.store.Areas(ctx, exam)
	if err != nil {
		return Place{}, err
	}
	for _, a := range areas {
		if a.Code == p.AreaCode {
			pl.Area = a
		}
	}
	units, err := s.store.Units(ctx, exam, p.AreaCode)
	if err != nil {
		return Place{}, err
	}
	for _, u := range units {
		if u.Code == p.UnitCode {
			pl.Unit = u
		}
	}
	return pl, nil
}

// Application returns the candidate's application for an exam. Before the
// pledge there is none and it returns a fresh one at StepPledge with
// Version 0.
func (s *Service) Application(ctx context.Context, exam string, c Candidate) (Application, error) {
	a, err := s.store.Application(ctx, exam, c.AccountID())
	if errors.Is(err, ErrNotFound) {
		return Application{ExamCode: exam, AccountID: c.AccountID(), Step: StepPledge}, nil
	}
	if err != nil {
		return Application{}, fmt.Errorf("registration: load application: %w", err)
	}
	return a, nil
}

// openExam loads an exam and checks that its window is open now.
func (s *Service) openExam(ctx context.Context, code string) (catalog.Exam, error) {
	e, err := s.store.Exam(ctx, code)
	if err != nil {
		return catalog.Exam{}, fmt.Errorf("registration: load exam: %w", err)
	}
	if w := e.WindowAt(s.now()); w != catalog.WindowOpen {
		return e, &WindowError{Exam: e, Window: w}
	}
	return e, nil
}

// change applies fn to the stored application and saves the result,
// retrying when another request changed it in between.
func (s *Service) change(ctx context.Context, exam, account string, fn func(*Application) error) (Application, error) {
	for attempt := 0; ; attempt++ {
		a, err := s.store.Application(ctx, exam, account)
		if errors.Is(err, ErrNotFound) {
			return Application{ExamCode: exam, AccountID: account, Step: StepPledge}, ErrWrongStep
		}
		if err != nil {
			return Application{}, fmt.Errorf("registration: load application: %w", err)
		}
		if err := fn(&a); err != nil {
			return a, err
		}
		a.UpdatedAt = s.Now()
		saved, err := s.store.UpdateApplication(ctx, a)
		switch {
		case errors.Is(err, ErrConflict) && attempt < 3:
			continue
		case errors.Is(err, ErrSubmitted):
			return a, ErrWrongStep
		case err != nil:
			return a, fmt.Errorf("registration: save application: %w", err)
		}
		return saved, nil
	}
}

// at returns a check that the application stands at step want.
func at(a *Application, want Step) error {
	if a.Step != want {
		return ErrWrongStep
	}
	return nil
}

// count records a step action's outcome from its error.
func (s *Service) count(portal string, action Action, err error) {
	outcome := outcomeOK
	switch {
	case err == nil:
	case errors.Is(err, ErrNotOpen):
		outcome = outcomeOutsideWindow
	case errors.Is(err, ErrWrongStep), errors.Is(err, ErrIncomplete), errors.Is(err, ErrSubmitted):
		outcome = outcomeWrongStep
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrReviewChanged), errors.Is(err, ErrNotAgreed):
		outcome = outcomeInvalid
	default:
		outcome = outcomeError
	}
	s.metrics.step(portal, action, outcome)
}

// Pledge does step 1: the candidate ticked 我同意以上条款 (agreed) on the
// integrity pledge. It creates the application.
func (s *Service) Pledge(ctx context.Context, portal, exam string, c Candidate, agreed bool) (a Application, err error) {
	defer func() { s.count(portal, ActionPledge, err) }()
	if _, err := s.openExam(ctx, exam); err != nil {
		return Application{}, err
	}
	if !agreed {
		if _, err := s.store.Application(ctx, exam, c.AccountID()); err == nil {
			return Application{}, ErrWrongStep
		}
		return Application{}, ErrNotAgreed
	}
	now := s.Now()
	a, err = s.store.CreateApplication(ctx, Application{
		ExamCode: exam, AccountID: c.AccountID(), Portal: portal, Step: StepNotice,
		PledgedAt: now, CreatedAt: now, UpdatedAt: now,
	})
	if errors.Is(err, ErrExists) {
		return Application{}, ErrWrongStep
	}
	if err != nil {
		return Application{}, fmt.Errorf("registration: create application: %w", err)
	}
	s.log.InfoContext(ctx, "registration: pledge", "exam", exam, "account_id", c.AccountID(), "portal", portal)
	return a, nil
}

// AcceptNotice does step 2: the candidate ticked 我已阅读并同意以上条款
// (agreed) below the pre-exam notice.
func (s *Service) AcceptNotice(ctx context.Context, portal, exam string, c Candidate, agreed bool) (a Application, err error) {
	defer func() { s.count(portal, ActionNotice, err) }()
	if _, err := s.openExam(ctx, exam); err != nil {
		return Application{}, err
	}
	return s.change(ctx, exam, c.AccountID(), func(a *Application) error {
		if err := at(a, StepNotice); err != nil {
			return err
		}
		if !agreed {
			return ErrNotAgreed
		}
		a.NoticeAt = s.Now()
		a.Step = StepInfo
		return nil
	})
}

// SaveInfo validates and saves one page of step 3. With field errors it
// saves nothing and returns them with a nil error. A page can be saved
// only once the pages before it are.
func (s *Service) SaveInfo(ctx context.Context, portal, exam string, c Candidate, page Page, v url.Values) (a Application, fe FieldErrors, err error) {
	defer func() {
		if err == nil && len(fe) > 0 {
			s.metrics.step(portal, pageAction(page), outcomeInvalid)
			return
		}
		s.count(portal, pageAction(page), err)
	}()
	if !page.Valid() {
		return Application{}, nil, fmt.Errorf("registration: page %q: %w", page, ErrNotFound)
	}
	if _, err := s.openExam(ctx, exam); err != nil {
		return Application{}, nil, err
	}
	now := s.now()
	a, err = s.change(ctx, exam, c.AccountID(), func(a *Application) error {
		if err := at(a, StepInfo); err != nil {
			return err
		}
		if !a.Profile.Reachable(page) {
			return ErrWrongStep
		}
		p := a.Profile
		switch page {
		case PageBasic:
			b, errs := ParseBasic(v)
			fe, p.Basic = errs, &b
		case PageEducation:
			e, errs := ParseEducation(v, now)
			fe, p.Education = errs, &e
		case PageWork:
			w, errs := ParseWork(v, now)
			fe, p.Work = errs, &w
		case PageOther:
			o, errs := ParseOther(v)
			fe, p.Other = errs, &o
		}
		if len(fe) > 0 {
			return errInvalid
		}
		a.Profile = p
		return nil
	})
	if errors.Is(err, errInvalid) {
		return a, fe, nil
	}
	return a, nil, err
}

// errInvalid stops a change whose form had errors.
var errInvalid = errors.New("registration: invalid form")

// SubmitInfo finishes step 3 once all four pages are saved.
func (s *Service) SubmitInfo(ctx context.Context, portal, exam string, c Candidate) (a Application, err error) {
	defer func() { s.count(portal, ActionInfoSubmit, err) }()
	if _, err := s.openExam(ctx, exam); err != nil {
		return Application{}, err
	}
	return s.change(ctx, exam, c.AccountID(), func(a *Application) error {
		if err := at(a, StepInfo); err != nil {
			return err
		}
		if !a.Profile.Complete() {
			return ErrIncomplete
		}
		a.Step = StepPosition
		return nil
	})
}

// ChoosePosition does step 4. A candidate who already accepted the review
// terms (coming back through 改报职位 or 重新报考) is reviewed at once; a
// first-time candidate goes on to the terms. An unknown position returns an
// error wrapping ErrNotFound.
func (s *Service) ChoosePosition(ctx context.Context, portal, exam string, c Candidate, position string) (a Application, err error) {
	defer func() { s.count(portal, ActionPosition, err) }()
	e, err := s.openExam(ctx, exam)
	if err != nil {
		return Application{}, err
	}
	var reasons []review.Reason
	a, err = s.change(ctx, exam, c.AccountID(), func(a *Application) error {
		if err := at(a, StepPosition); err != nil {
			return err
		}
		pos, err := s.store.Position(ctx, exam, position)
		if err != nil {
			return fmt.Errorf("registration: position: %w", err)
		}
		a.PositionCode = pos.Code
		a.Review = Review{}
		a.Step = StepTerms
		if !a.TermsAcceptedAt.IsZero() {
			reasons = s.review(a, e, pos, c)
		}
		return nil
	})
	if err == nil && !a.TermsAcceptedAt.IsZero() {
		s.metrics.review(reasons)
	}
	return a, err
}

// AcceptTerms does step 5 (我已知晓) and runs the automatic review, which
// leads to step 6 (failed) or 7 (passed).
func (s *Service) AcceptTerms(ctx context.Context, portal, exam string, c Candidate) (a Application, err error) {
	defer func() { s.count(portal, ActionTerms, err) }()
	e, err := s.openExam(ctx, exam)
	if err != nil {
		return Application{}, err
	}
	var reasons []review.Reason
	a, err = s.change(ctx, exam, c.AccountID(), func(a *Application) error {
		if err := at(a, StepTerms); err != nil {
			return err
		}
		pos, err := s.store.Position(ctx, exam, a.PositionCode)
		if err != nil {
			return fmt.Errorf("registration: position: %w", err)
		}
		a.TermsAcceptedAt = s.Now()
		reasons = s.review(a, e, pos, c)
		return nil
	})
	if err == nil {
		s.metrics.review(reasons)
	}
	return a, err
}

// review checks the application against pos and moves it to step 6 or 7.
func (s *Service) review(a *Application, e catalog.Exam, pos catalog.Position, c Candidate) []review.Reason {
	reasons := review.Check(applicant(a.Profile, c), pos.Requirements, e.AgeReference)
	a.Review = Review{PositionCode: pos.Code, Reasons: reasons, At: s.Now()}
	if len(reasons) == 0 {
		a.Review.Outcome = OutcomePassed
		a.Step = StepEligible
	} else {
		a.Review.Outcome = OutcomeFailed
		a.Step = StepReviewFailed
	}
	return reasons
}

// applicant is what the review needs of a profile and a candidate.
func applicant(p Profile, c Candidate) review.Applicant {
	a := review.Applicant{BirthDate: c.BirthDate(), Gender: c.Gender()}
	if p.Basic != nil {
		a.Political, a.Household, a.Origin = p.Basic.Political, p.Basic.Household, p.Basic.Origin
	}
	if p.Education != nil {
		a.Education, a.Degree = p.Education.Level, p.Education.Degree
		a.Major, a.MajorCategory = p.Education.Major, p.Education.MajorCategory
	}
	if p.Work != nil {
		a.WorkYears = p.Work.GrassrootsYears
	}
	return a
}

// ChangePosition is 改报职位 on a failed review: back to step 4.
func (s *Service) ChangePosition(ctx context.Context, portal, exam string, c Candidate) (a Application, err error) {
	defer func() { s.count(portal, ActionChangePosition, err) }()
	return s.back(ctx, exam, c, StepPosition)
}

// Reapply is 重新报考 on a failed review: back to step 3 to edit the
// personal information, then on through step 4 again.
func (s *Service) Reapply(ctx context.Context, portal, exam string, c Candidate) (a Application, err error) {
	defer func() { s.count(portal, ActionReapply, err) }()
	return s.back(ctx, exam, c, StepInfo)
}

func (s *Service) back(ctx context.Context, exam string, c Candidate, to Step) (Application, error) {
	if _, err := s.openExam(ctx, exam); err != nil {
		return Application{}, err
	}
	return s.change(ctx, exam, c.AccountID(), func(a *Application) error {
		if err := at(a, StepReviewFailed); err != nil {
			return err
		}
		a.Step = to
		return nil
	})
}

// Proceed is 下一步 on a passed review (step 7): on to the confirmation.
func (s *Service) Proceed(ctx context.Context, portal, exam string, c Candidate) (a Application, err error) {
	defer func() { s.count(portal, ActionEligible, err) }()
	if _, err := s.openExam(ctx, exam); err != nil {
		return Application{}, err
	}
	return s.change(ctx, exam, c.AccountID(), func(a *Application) error {
		if err := at(a, StepEligible); err != nil {
			return err
		}
		a.Step = StepConfirm
		return nil
	})
}

// Confirm is the final submit (step 8). It reviews the application once
// more against the current catalog, then completes it through
// Store.Submit, so that a double-clicked or replayed submit completes it
// once and returns the same application. If the position no longer admits
// the candidate it returns ErrReviewChanged and the application is back at
// the review opinion.
func (s *Service) Confirm(ctx context.Context, portal, exam string, c Candidate) (a Application, err error) {
	submitted := false
	defer func() {
		if err == nil && !submitted {
			s.metrics.step(portal, ActionConfirm, outcomeWrongStep)
			return
		}
		s.count(portal, ActionConfirm, err)
	}()
	a, err = s.store.Application(ctx, exam, c.AccountID())
	if errors.Is(err, ErrNotFound) {
		return Application{}, ErrWrongStep
	}
	if err != nil {
		return Application{}, fmt.Errorf("registration: load application: %w", err)
	}
	if a.Step == StepComplete {
		return a, nil
	}
	e, err := s.openExam(ctx, exam)
	if err != nil {
		return Application{}, err
	}
	if a.Step != StepConfirm {
		return a, ErrWrongStep
	}
	pos, err := s.store.Position(ctx, exam, a.PositionCode)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return a, fmt.Errorf("registration: position: %w", err)
	}
	if err != nil || len(review.Check(applicant(a.Profile, c), pos.Requirements, e.AgeReference)) > 0 {
		var reasons []review.Reason
		a, err = s.change(ctx, exam, c.AccountID(), func(a *Application) error {
			if err := at(a, StepConfirm); err != nil {
				return err
			}
			if pos.Code == "" {
				a.Review = Review{Outcome: OutcomeFailed, PositionCode: a.PositionCode, At: s.Now(),
					Reasons: []review.Reason{{Requirement: review.None, Message: "您报考的职位已被调整或取消，请改报职位"}}}
				a.Step = StepReviewFailed
				return nil
			}
			reasons = s.review(a, e, pos, c)
			return nil
		})
		if err != nil {
			return a, err
		}
		if pos.Code != "" {
			s.metrics.review(reasons)
		}
		return a, ErrReviewChanged
	}
	a, submitted, err = s.store.Submit(ctx, exam, c.AccountID(), s.Now())
	if err != nil {
		return a, fmt.Errorf("registration: submit: %w", err)
	}
	if submitted {
		s.log.InfoContext(ctx, "registration: submitted", "exam", exam, "account_id", c.AccountID(), "number", a.Number)
		if err := s.auditor.Record(ctx, "registration.submit", c.AccountID(), map[string]string{
			"exam": exam, "position": a.PositionCode, "number": strconv.FormatInt(a.Number, 10), "portal": portal,
		}); err != nil {
			s.log.ErrorContext(ctx, "registration: audit submit", "exam", exam, "account_id", c.AccountID(), "err", err)
		}
	}
	return a, nil
}

// ImportSummary says what a catalog import contained.
type ImportSummary struct {
	Exams     []string
	Areas     int
	Units     int
	Positions int
}

// ImportCSV reads a whole catalog CSV file (see catalog.ReadCSV) and, only
// if every line is valid, stores it in one atomic ImportCatalog call. A
// refused file returns a *catalog.ImportError listing every bad line. It
// needs no Service, for the `shiming catalog import FILE` command.
func ImportCSV(ctx context.Context, store Store, r io.Reader) (ImportSummary, error) {
	c, err := catalog.ReadCSV(r)
	if err != nil {
		return ImportSummary{}, err
	}
	if err := store.ImportCatalog(ctx, c); err != nil {
		return ImportSummary{}, fmt.Errorf("registration: import catalog: %w", err)
	}
	sum := ImportSummary{Areas: len(c.Areas), Units: len(c.Units), Positions: len(c.Positions)}
	for _, e := range c.Exams {
		sum.Exams = append(sum.Exams, e.Code)
	}
	return sum, nil
}

// ImportCatalog is ImportCSV for an operator, audited.
func (s *Service) ImportCatalog(ctx context.Context, operator string, r io.Reader) (ImportSummary, error) {
	sum, err := ImportCSV(ctx, s.store, r)
	detail := map[string]string{"result": "imported"}
	if err != nil {
		detail["result"] = "refused"
	} else {
		detail["exams"] = fmt.Sprint(sum.Exams)
		detail["positions"] = strconv.Itoa(sum.Positions)
	}
	if aerr := s.auditor.Record(ctx, "registration.catalog_import", operator, detail); aerr != nil {
		s.log.ErrorContext(ctx, "registration: audit catalog import", "operator", operator, "err", aerr)
	}
	s.log.InfoContext(ctx, "registration: catalog import", "operator", operator, "result", detail["result"], "positions", sum.Positions)
	return sum, err
}

// Audit records an event in the audit trail, for the operator pages.
func (s *Service) Audit(ctx context.Context, kind, actor string, detail map[string]string) error {
	return s.auditor.Record(ctx, kind, actor, detail)
}

// Catalog returns one exam's whole catalog.
func (s *Service) Catalog(ctx context.Context, exam string) (catalog.Catalog, error) {
	return s.store.Catalog(ctx, exam)
}

// PositionStats is one row of the operators' daily statistics.
type PositionStats struct {
	Place
	PositionCount
}

// Stats returns the statistics of every position of an exam, in position
// order, with zeros for positions nobody chose.
func (s *Service) Stats(ctx context.Context, exam string) ([]PositionStats, error) {
	c, err := s.store.Catalog(ctx, exam)
	if err != nil {
		return nil, fmt.Errorf("registration: stats: %w", err)
	}
	counts, err := s.store.PositionCounts(ctx, exam)
	if err != nil {
		return nil, fmt.Errorf("registration: stats: %w", err)
	}
	byCode := map[string]PositionCount{}
	for _, pc := range counts {
		byCode[pc.PositionCode] = pc
	}
	areas := map[string]catalog.Area{}
	for _, a := range c.Areas {
		areas[a.Code] = a
	}
	units := map[string]catalog.Unit{}
	for _, u := range c.Units {
		units[u.Code] = u
	}
	out := make([]PositionStats, 0, len(c.Positions))
	for _, p := range c.Positions {
		pc := byCode[p.Code]
		pc.PositionCode = p.Code
		out = append(out, PositionStats{Place{areas[p.AreaCode], units[p.UnitCode], p}, pc})
	}
	return out, nil
}
