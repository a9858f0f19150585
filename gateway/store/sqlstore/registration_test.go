package sqlstore_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/gateway/store/sqlstore"
	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/catalog"
)

// The conformance suite (registration/storetest) runs from store/sqlite
// and store/postgres; these tests cover what is particular to SQL.

const sampleExam = "hn2022gwy"

// sampleStore opens a store on b with the sample catalog imported.
func sampleStore(t *testing.T, b backend) *sqlstore.Store {
	t.Helper()
	s := mustOpen(t, b, b.target(t))
	t.Cleanup(func() { _ = s.Close() })
	c, err := catalog.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ImportCatalog(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	return s
}

func confirmApp(account, position string) registration.Application {
	now := time.Date(2022, 2, 28, 10, 0, 0, 0, time.UTC)
	return registration.Application{
		ExamCode: sampleExam, AccountID: account, Portal: "hunanpea", Step: registration.StepConfirm,
		PositionCode: position, Review: registration.Review{Outcome: registration.OutcomePassed, PositionCode: position, At: now},
		CreatedAt: now, UpdatedAt: now,
	}
}

// Exam times are China dates: read back in UTC, an age reference day at
// midnight would print as the day before.
func TestRegistrationExamTimesInChinaZone(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		s := sampleStore(t, b)
		e, err := s.Exam(t.Context(), sampleExam)
		if err != nil {
			t.Fatal(err)
		}
		exams, err := s.Exams(t.Context())
		if err != nil || len(exams) != 1 {
			t.Fatalf("Exams = %v, %v", exams, err)
		}
		c, err := s.Catalog(t.Context(), sampleExam)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range []catalog.Exam{e, exams[0], c.Exams[0]} {
			if d := got.AgeReference.Format("2006-01-02"); d != "2022-02-27" || got.AgeReference.Location() != catalog.Location() {
				t.Errorf("AgeReference = %v (day %s), want 2022-02-27 in %v", got.AgeReference, d, catalog.Location())
			}
			if h := got.Start.Format("2006-01-02 15:04"); h != "2022-02-27 09:00" {
				t.Errorf("Start = %s, want 2022-02-27 09:00", h)
			}
		}
	})
}

// A chosen position must exist: the foreign key that backs the import's
// check also refuses applications for positions the catalog lacks.
func TestRegistrationChosenPositionMustExist(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		s := sampleStore(t, b)
		if _, err := s.CreateApplication(ctx, confirmApp("acct-1", "9999999")); !errors.Is(err, registration.ErrNotFound) {
			t.Errorf("CreateApplication with an unknown position: err = %v, want ErrNotFound", err)
		}
		a, err := s.CreateApplication(ctx, confirmApp("acct-1", "0100101"))
		if err != nil {
			t.Fatal(err)
		}
		a.PositionCode = "9999999"
		if _, err := s.UpdateApplication(ctx, a); !errors.Is(err, registration.ErrNotFound) {
			t.Errorf("UpdateApplication to an unknown position: err = %v, want ErrNotFound", err)
		}
		if _, err := s.DB().ExecContext(ctx, s.Rebind(`DELETE FROM reg_positions WHERE exam_code = ? AND code = ?`), sampleExam, "0100101"); err == nil {
			t.Error("deleting a chosen position succeeded")
		}
		if _, err := s.Position(ctx, sampleExam, "0100101"); err != nil {
			t.Errorf("chosen position after a refused delete: %v", err)
		}
	})
}

// What Create, Update and Submit return is what a later read returns:
// times cut to the microsecond, in UTC.
func TestRegistrationReturnsWhatItStores(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		s := sampleStore(t, b)
		ns := time.Date(2022, 2, 28, 10, 0, 0, 123456789, catalog.Location())
		a := confirmApp("acct-1", "0100101")
		a.Step = registration.StepEligible
		a.CreatedAt, a.UpdatedAt, a.PledgedAt, a.Review.At = ns, ns, ns, ns
		check := func(what string, got registration.Application) {
			t.Helper()
			read, err := s.Application(ctx, sampleExam, "acct-1")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, read) {
				t.Errorf("%s returned\n%+v\nread back\n%+v", what, got, read)
			}
			want := ns.UTC().Truncate(time.Microsecond)
			if !reflect.DeepEqual([]time.Time{got.CreatedAt, got.PledgedAt, got.Review.At}, []time.Time{want, want, want}) {
				t.Errorf("%s: times %v, %v, %v, want %v", what, got.CreatedAt, got.PledgedAt, got.Review.At, want)
			}
		}
		got, err := s.CreateApplication(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		check("CreateApplication", got)
		got.Step = registration.StepConfirm
		got.UpdatedAt = ns.Add(time.Nanosecond)
		got.CreatedAt = ns.Add(time.Hour) // ignored: created_at never changes
		if got, err = s.UpdateApplication(ctx, got); err != nil {
			t.Fatal(err)
		}
		check("UpdateApplication", got)
		if got, _, err = s.Submit(ctx, sampleExam, "acct-1", ns); err != nil {
			t.Fatal(err)
		}
		check("Submit", got)
	})
}

// Many applications submitted at once, each several times, get the
// numbers 1 to n, each once.
func TestRegistrationNumbersHaveNoGaps(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		s := sampleStore(t, b)
		const n, tries = 12, 3
		for i := range n {
			if _, err := s.CreateApplication(ctx, confirmApp(fmt.Sprintf("acct-%02d", i), "0100101")); err != nil {
				t.Fatal(err)
			}
		}
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			numbers = map[string]int64{}
			errs    []error
		)
		for i := range n * tries {
			wg.Go(func() {
				a, _, err := s.Submit(ctx, sampleExam, fmt.Sprintf("acct-%02d", i%n), time.Now())
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				if prev, ok := numbers[a.AccountID]; ok && prev != a.Number {
					errs = append(errs, fmt.Errorf("%s numbered %d and %d", a.AccountID, prev, a.Number))
				}
				numbers[a.AccountID] = a.Number
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, v := range numbers {
			got = append(got, v)
		}
		slices.Sort(got)
		for i, v := range got {
			if v != int64(i+1) {
				t.Fatalf("numbers %v, want 1 to %d", got, n)
			}
		}
		if len(got) != n {
			t.Fatalf("%d applications numbered, want %d", len(got), n)
		}
	})
}
