package registration

import (
	"context"
	"errors"
	"time"

	"github.com/shiming-id/shiming/registration/catalog"
)

// Errors a Store returns, wrapped or as is; compare with errors.Is.
var (
	// ErrNotFound: no such exam, position or application.
	ErrNotFound = errors.New("registration: not found")
	// ErrExists: CreateApplication found one for the exam and account.
	ErrExists = errors.New("registration: application exists")
	// ErrConflict: UpdateApplication was given a stale Version.
	ErrConflict = errors.New("registration: application changed concurrently")
	// ErrSubmitted: the application is complete and can no longer change.
	ErrSubmitted = errors.New("registration: application already submitted")
	// ErrWrongStep: the application is not at the step the action needs.
	ErrWrongStep = errors.New("registration: application is at another step")
	// ErrPositionInUse: a catalog import would remove a position that
	// applications have chosen.
	ErrPositionInUse = errors.New("registration: position in use")
)

// PositionInUseError names the positions a refused import would have
// removed. It matches ErrPositionInUse.
type PositionInUseError struct {
	ExamCode  string
	Positions []string
}

func (e *PositionInUseError) Error() string {
	return "registration: import would remove positions with applications in exam " + e.ExamCode
}

// Is makes errors.Is(err, ErrPositionInUse) hold.
func (e *PositionInUseError) Is(target error) bool { return target == ErrPositionInUse }

// PositionCount is the daily 报名人数 statistic of one position.
type PositionCount struct {
	PositionCode string
	// Applicants have chosen the position (step 4 done), whatever their
	// later steps.
	Applicants int
	// Passed are the applicants whose automatic review for the position
	// passed (Review.Outcome is OutcomePassed).
	Passed int
	// Submitted are the applicants who completed registration.
	Submitted int
}

// ListOptions selects applications for the export.
type ListOptions struct {
	// After is the AccountID to continue after; applications come in
	// AccountID order.
	After string
	// Limit caps the page; 0 means 500.
	Limit int
	// CompleteOnly selects completed registrations only.
	CompleteOnly bool
}

// Store keeps the catalog and the applications. It is designed for a SQL
// database: every method is one transaction, an application is unique on
// (ExamCode, AccountID), changes are guarded by the Version column, and
// Submit is idempotent. Times are kept to the microsecond at least.
// registration/storetest is the conformance suite every implementation
// runs.
type Store interface {
	// ImportCatalog replaces, atomically, each exam named in c with its
	// areas, units and positions; exams not named stay as they are. c
	// passes catalog.Validate. It fails with *PositionInUseError if a
	// position that an application has chosen would disappear, and on any
	// error nothing changes. An exam's Submit counter survives imports.
	ImportCatalog(ctx context.Context, c catalog.Catalog) error
	// Exams returns every exam in code order.
	Exams(ctx context.Context) ([]catalog.Exam, error)
	// Exam returns one exam, or ErrNotFound.
	Exam(ctx context.Context, code string) (catalog.Exam, error)
	// Catalog returns one exam with all its areas, units and positions, in
	// code order, or ErrNotFound.
	Catalog(ctx context.Context, exam string) (catalog.Catalog, error)
	// Areas returns the areas of an exam in code order.
	Areas(ctx context.Context, exam string) ([]catalog.Area, error)
	// Units returns the units of an area in code order.
	Units(ctx context.Context, exam, area string) ([]catalog.Unit, error)
	// Positions returns the positions of a unit in code order.
	Positions(ctx context.Context, exam, unit string) ([]catalog.Position, error)
	// Position returns one position, or ErrNotFound.
	Position(ctx context.Context, exam, code string) (catalog.Position, error)

	// CreateApplication stores a new application with Version 1 and
	// returns it. It fails with ErrExists if the account already has one
	// for the exam (a unique key, so concurrent calls create one), and with
	// ErrNotFound if the exam does not exist. Number and SubmittedAt are
	// ignored, and a Step of StepComplete is refused with ErrWrongStep.
	CreateApplication(ctx context.Context, a Application) (Application, error)
	// Application returns the application of an account for an exam, or
	// ErrNotFound.
	Application(ctx context.Context, exam, accountID string) (Application, error)
	// UpdateApplication stores a changed application if the stored
	// Version equals a.Version, and returns it with Version increased by
	// one. It fails with ErrConflict on a stale Version, ErrSubmitted if
	// the stored application is complete, ErrWrongStep if a.Step is
	// StepComplete (only Submit completes) and ErrNotFound if there is
	// none. Number and SubmittedAt are not changed by it.
	UpdateApplication(ctx context.Context, a Application) (Application, error)
	// Submit completes an application at StepConfirm: it sets Step to
	// StepComplete, SubmittedAt to at and Number to the exam's next
	// sequence number (from 1), increases Version, all at once, and
	// returns submitted true. Submitting a complete application again
	// returns it unchanged with submitted false, so a double-clicked or
	// replayed submit completes once. Any other step fails with
	// ErrWrongStep, a missing application with ErrNotFound.
	Submit(ctx context.Context, exam, accountID string, at time.Time) (a Application, submitted bool, err error)
	// ListApplications returns a page of an exam's applications in
	// AccountID order.
	ListApplications(ctx context.Context, exam string, opts ListOptions) ([]Application, error)
	// PositionCounts returns the statistics of every position of an exam
	// that has at least one applicant, in position-code order.
	PositionCounts(ctx context.Context, exam string) ([]PositionCount, error)
	// StepCounts returns how many applications, across all exams, stand at
	// each step; steps with none may be left out.
	StepCounts(ctx context.Context) (map[Step]int, error)
}
