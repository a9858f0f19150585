// Package storetest is the conformance suite every registration.Store
// runs: one call of Run from the implementation's own test.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/catalog"
	"github.com/shiming-id/shiming/registration/review"
)

// Run runs every conformance test, each on a fresh store from newStore.
func Run(t *testing.T, newStore func(t *testing.T) registration.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s registration.Store)
	}{
		{"CatalogQueries", testCatalogQueries},
		{"ImportSample", testImportSample},
		{"ImportReplacesNamedExamsOnly", testImportReplaces},
		{"ImportAllOrNothing", testImportAllOrNothing},
		{"ImportPositionInUse", testImportPositionInUse},
		{"CreateApplication", testCreateApplication},
		{"ConcurrentCreate", testConcurrentCreate},
		{"UpdateApplication", testUpdateApplication},
		{"ConcurrentUpdate", testConcurrentUpdate},
		{"Submit", testSubmit},
		{"ConcurrentSubmit", testConcurrentSubmit},
		{"SubmitCounterSurvivesImport", testCounterSurvivesImport},
		{"ListApplications", testListApplications},
		{"PositionCounts", testPositionCounts},
		{"StepCounts", testStepCounts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newStore(t))
		})
	}
}

var cst = catalog.Location()

// fixture is two small exams; exam "b" has one area, unit and position.
func fixture() catalog.Catalog {
	examA := catalog.Exam{
		Code: "a2022", Name: "甲考试",
		Start:        time.Date(2022, 2, 27, 9, 0, 0, 0, cst),
		End:          time.Date(2022, 3, 5, 17, 0, 0, 0, cst),
		AgeReference: time.Date(2022, 2, 27, 0, 0, 0, 0, cst),
	}
	examB := catalog.Exam{
		Code: "b2022", Name: "乙考试",
		Start:        time.Date(2022, 6, 1, 9, 0, 0, 0, cst),
		End:          time.Date(2022, 6, 7, 17, 0, 0, 0, cst),
		AgeReference: time.Date(2022, 6, 1, 0, 0, 0, 0, cst),
	}
	return catalog.Catalog{
		Exams: []catalog.Exam{examA, examB},
		Areas: []catalog.Area{
			{ExamCode: "a2022", Code: "01", Name: "省直考区"},
			{ExamCode: "a2022", Code: "02", Name: "长沙考区"},
			{ExamCode: "b2022", Code: "01", Name: "省直考区"},
		},
		Units: []catalog.Unit{
			{ExamCode: "a2022", AreaCode: "01", Code: "01001", Name: "省统计中心"},
			{ExamCode: "a2022", AreaCode: "01", Code: "01002", Name: "省水利中心"},
			{ExamCode: "a2022", AreaCode: "02", Code: "02001", Name: "长沙市某局"},
			{ExamCode: "b2022", AreaCode: "01", Code: "01001", Name: "省统计中心"},
		},
		Positions: []catalog.Position{
			{ExamCode: "a2022", AreaCode: "01", UnitCode: "01001", Code: "0100101", Name: "一级科员（统计）", Headcount: 2,
				Requirements: catalog.Requirements{Education: catalog.Bachelor, Degree: catalog.DegreeBachelor,
					Majors: []string{"统计学类", "经济学"}, MinAge: 18, MaxAge: 35}},
			{ExamCode: "a2022", AreaCode: "01", UnitCode: "01001", Code: "0100102", Name: "一级科员（综合）", Headcount: 1,
				Requirements: catalog.Requirements{Political: []string{"中共党员", "中共预备党员"}, WorkYears: 2, Gender: cnid.Female,
					Household: []string{"43", "4401"}, Other: "限应届\n毕业生"}},
			{ExamCode: "a2022", AreaCode: "01", UnitCode: "01002", Code: "0100201", Name: "一级科员（水利）", Headcount: 3},
			{ExamCode: "a2022", AreaCode: "02", UnitCode: "02001", Code: "0200101", Name: "执法队员", Headcount: 5},
			{ExamCode: "b2022", AreaCode: "01", UnitCode: "01001", Code: "0100101", Name: "统计员", Headcount: 1},
		},
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

func mustImport(t *testing.T, s registration.Store, c catalog.Catalog) {
	t.Helper()
	if err := s.ImportCatalog(ctx(t), c); err != nil {
		t.Fatalf("ImportCatalog: %v", err)
	}
}

// normExam makes exams comparable whatever zone a store returns.
func normExam(e catalog.Exam) catalog.Exam {
	e.Start, e.End, e.AgeReference = e.Start.UTC(), e.End.UTC(), e.AgeReference.UTC()
	return e
}

func normPosition(p catalog.Position) catalog.Position {
	r := &p.Requirements
	r.Majors, r.Political, r.Household = nilIfEmpty(r.Majors), nilIfEmpty(r.Political), nilIfEmpty(r.Household)
	return p
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func normCatalog(c catalog.Catalog) catalog.Catalog {
	out := catalog.Catalog{
		Areas: nilIfEmpty(slices.Clone(c.Areas)),
		Units: nilIfEmpty(slices.Clone(c.Units)),
	}
	for _, e := range c.Exams {
		out.Exams = append(out.Exams, normExam(e))
	}
	for _, p := range c.Positions {
		out.Positions = append(out.Positions, normPosition(p))
	}
	out.Sort()
	return out
}

// only returns the part of c that belongs to one exam.
func only(c catalog.Catalog, exam string) catalog.Catalog {
	var out catalog.Catalog
	for _, e := range c.Exams {
		if e.Code == exam {
			out.Exams = append(out.Exams, e)
		}
	}
	for _, a := range c.Areas {
		if a.ExamCode == exam {
			out.Areas = append(out.Areas, a)
		}
	}
	for _, u := range c.Units {
		if u.ExamCode == exam {
			out.Units = append(out.Units, u)
		}
	}
	for _, p := range c.Positions {
		if p.ExamCode == exam {
			out.Positions = append(out.Positions, p)
		}
	}
	return out
}

func checkCatalog(t *testing.T, s registration.Store, want catalog.Catalog) {
	t.Helper()
	for _, e := range want.Exams {
		got, err := s.Catalog(ctx(t), e.Code)
		if err != nil {
			t.Fatalf("Catalog(%s): %v", e.Code, err)
		}
		if w := normCatalog(only(want, e.Code)); !reflect.DeepEqual(normCatalog(got), w) {
			t.Fatalf("Catalog(%s) =\n%+v\nwant\n%+v", e.Code, normCatalog(got), w)
		}
	}
}

func testCatalogQueries(t *testing.T, s registration.Store) {
	if exams, err := s.Exams(ctx(t)); err != nil || len(exams) != 0 {
		t.Fatalf("empty store: Exams = %v, %v", exams, err)
	}
	if _, err := s.Exam(ctx(t), "a2022"); !errors.Is(err, registration.ErrNotFound) {
		t.Errorf("Exam on empty store: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Catalog(ctx(t), "a2022"); !errors.Is(err, registration.ErrNotFound) {
		t.Errorf("Catalog on empty store: err = %v, want ErrNotFound", err)
	}
	c := fixture()
	mustImport(t, s, c)

	exams, err := s.Exams(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(exams) != 2 || exams[0].Code != "a2022" || exams[1].Code != "b2022" {
		t.Fatalf("Exams = %+v", exams)
	}
	if !reflect.DeepEqual(normExam(exams[0]), normExam(c.Exams[0])) {
		t.Errorf("Exams[0] = %+v, want %+v", exams[0], c.Exams[0])
	}
	e, err := s.Exam(ctx(t), "b2022")
	if err != nil || !e.Start.Equal(c.Exams[1].Start) || !e.End.Equal(c.Exams[1].End) || !e.AgeReference.Equal(c.Exams[1].AgeReference) || e.Name != "乙考试" {
		t.Errorf("Exam(b2022) = %+v, %v", e, err)
	}

	areas, err := s.Areas(ctx(t), "a2022")
	if err != nil || !reflect.DeepEqual(areas, c.Areas[:2]) {
		t.Errorf("Areas(a2022) = %+v, %v", areas, err)
	}
	units, err := s.Units(ctx(t), "a2022", "01")
	if err != nil || !reflect.DeepEqual(units, c.Units[:2]) {
		t.Errorf("Units(a2022, 01) = %+v, %v", units, err)
	}
	if units, err := s.Units(ctx(t), "a2022", "99"); err != nil || len(units) != 0 {
		t.Errorf("Units of unknown area = %+v, %v", units, err)
	}
	positions, err := s.Positions(ctx(t), "a2022", "01001")
	if err != nil || len(positions) != 2 {
		t.Fatalf("Positions(a2022, 01001) = %+v, %v", positions, err)
	}
	for i := range positions {
		if got, want := normPosition(positions[i]), normPosition(c.Positions[i]); !reflect.DeepEqual(got, want) {
			t.Errorf("Positions[%d] =\n%+v\nwant\n%+v", i, got, want)
		}
	}
	p, err := s.Position(ctx(t), "b2022", "0100101")
	if err != nil || p.Name != "统计员" || p.ExamCode != "b2022" {
		t.Errorf("Position(b2022, 0100101) = %+v, %v", p, err)
	}
	if _, err := s.Position(ctx(t), "a2022", "nope"); !errors.Is(err, registration.ErrNotFound) {
		t.Errorf("Position(unknown): err = %v, want ErrNotFound", err)
	}
	checkCatalog(t, s, c)
}

func testImportSample(t *testing.T, s registration.Store) {
	c, err := catalog.Sample()
	if err != nil {
		t.Fatal(err)
	}
	mustImport(t, s, c)
	checkCatalog(t, s, c)
}

func testImportReplaces(t *testing.T, s registration.Store) {
	c := fixture()
	mustImport(t, s, c)
	// A new version of exam a: renamed, one position gone, one unit moved,
	// one position added. Exam b is not in the file and must stay.
	next := only(fixture(), "a2022")
	next.Exams[0].Name = "甲考试（调整）"
	next.Exams[0].End = next.Exams[0].End.Add(48 * time.Hour)
	next.Positions = slices.DeleteFunc(next.Positions, func(p catalog.Position) bool { return p.Code == "0100201" })
	next.Positions = append(next.Positions, catalog.Position{ExamCode: "a2022", AreaCode: "02", UnitCode: "02001", Code: "0200102", Name: "新职位", Headcount: 1})
	mustImport(t, s, next)
	checkCatalog(t, s, next)
	checkCatalog(t, s, only(c, "b2022"))
	if _, err := s.Position(ctx(t), "a2022", "0100201"); !errors.Is(err, registration.ErrNotFound) {
		t.Errorf("removed position: err = %v, want ErrNotFound", err)
	}
}

func testImportAllOrNothing(t *testing.T, s registration.Store) {
	c := fixture()
	mustImport(t, s, c)
	// Exam b is fine, exam a repeats a position code: the import fails and
	// neither exam changes.
	bad := fixture()
	bad.Exams[1].Name = "乙考试（不应生效）"
	bad.Exams = append(bad.Exams, catalog.Exam{Code: "c2022", Name: "丙考试", Start: bad.Exams[0].Start, End: bad.Exams[0].End, AgeReference: bad.Exams[0].AgeReference})
	bad.Areas = append(bad.Areas, catalog.Area{ExamCode: "c2022", Code: "01", Name: "省直"})
	dup := bad.Positions[0]
	dup.Name = "重复的职位"
	bad.Positions = append(bad.Positions, dup)
	if err := s.ImportCatalog(ctx(t), bad); err == nil {
		t.Fatal("ImportCatalog with a duplicate position code succeeded")
	}
	checkCatalog(t, s, c)
	if _, err := s.Exam(ctx(t), "c2022"); !errors.Is(err, registration.ErrNotFound) {
		t.Errorf("exam of a refused import exists: err = %v", err)
	}
}

func testImportPositionInUse(t *testing.T, s registration.Store) {
	mustImport(t, s, fixture())
	a := newApp("a2022", "acct-1", registration.StepTerms)
	a.PositionCode = "0100201"
	create(t, s, a)

	next := fixture()
	next.Exams[1].Name = "乙考试（不应生效）"
	next.Positions = slices.DeleteFunc(next.Positions, func(p catalog.Position) bool {
		return p.ExamCode == "a2022" && (p.Code == "0100201" || p.Code == "0200101")
	})
	err := s.ImportCatalog(ctx(t), next)
	var inUse *registration.PositionInUseError
	if !errors.Is(err, registration.ErrPositionInUse) || !errors.As(err, &inUse) {
		t.Fatalf("err = %v, want *PositionInUseError", err)
	}
	if inUse.ExamCode != "a2022" || !slices.Equal(inUse.Positions, []string{"0100201"}) {
		t.Errorf("PositionInUseError = %+v, want exam a2022 positions [0100201]", inUse)
	}
	checkCatalog(t, s, fixture())
}

// newApp returns an application with every field set, at step.
func newApp(exam, account string, step registration.Step) registration.Application {
	at := time.Date(2022, 2, 28, 10, 30, 15, 0, time.UTC)
	return registration.Application{
		ExamCode: exam, AccountID: account, Portal: "hunanpea", Step: step,
		Profile: registration.Profile{
			Basic: &registration.Basic{Ethnicity: "汉族", Political: "中共党员", Household: "4301", Origin: "4301",
				Address: "长沙市岳麓区某路1号", Postcode: "410000", Email: "a@example.com"},
			Education: &registration.Education{Level: catalog.Bachelor, Degree: catalog.DegreeBachelor, School: "湖南某大学",
				Graduated: "2020-06", MajorCategory: "统计学类", Major: "统计学"},
			Work:  &registration.Work{Employer: "某公司", Title: "职员", StartedWork: "2020-07", GrassrootsYears: 1, Resume: "2020.07-至今 某公司"},
			Other: &registration.Other{Family: "父 张某 农民\n母 李某 教师", Awards: "无", Remarks: ""},
		},
		PledgedAt: at, NoticeAt: at.Add(time.Minute), CreatedAt: at, UpdatedAt: at.Add(2 * time.Minute),
	}
}

func create(t *testing.T, s registration.Store, a registration.Application) registration.Application {
	t.Helper()
	got, err := s.CreateApplication(ctx(t), a)
	if err != nil {
		t.Fatalf("CreateApplication: %v", err)
	}
	return got
}

// normApp makes applications comparable whatever zone a store returns.
func normApp(a registration.Application) registration.Application {
	a = a.Clone()
	for _, p := range []*time.Time{&a.PledgedAt, &a.NoticeAt, &a.TermsAcceptedAt, &a.SubmittedAt, &a.CreatedAt, &a.UpdatedAt, &a.Review.At} {
		*p = p.UTC()
	}
	a.Review.Reasons = nilIfEmpty(a.Review.Reasons)
	return a
}

func sameApp(t *testing.T, what string, got, want registration.Application) {
	t.Helper()
	if g, w := normApp(got), normApp(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s =\n%+v\nwant\n%+v", what, g, w)
	}
}

func testCreateApplication(t *testing.T, s registration.Store) {
	mustImport(t, s, fixture())
	a := newApp("a2022", "acct-1", registration.StepInfo)
	a.Version = 7
	a.Number = 99
	a.SubmittedAt = time.Date(2022, 3, 1, 0, 0, 0, 0, time.UTC)
	got := create(t, s, a)
	want := a
	want.Version, want.Number, want.SubmittedAt = 1, 0, time.Time{}
	sameApp(t, "CreateApplication", got, want)
	read, err := s.Application(ctx(t), "a2022", "acct-1")
	if err != nil {
		t.Fatal(err)
	}
	sameApp(t, "Application", read, want)

	if _, err := s.CreateApplication(ctx(t), newApp("a2022", "acct-1", registration.StepNotice)); !errors.Is(err, registration.ErrExists) {
		t.Errorf("second CreateApplication: err = %v, want ErrExists", err)
	}
	// The same account may apply to another exam.
	create(t, s, newApp("b2022", "acct-1", registration.StepNotice))
	if _, err := s.CreateApplication(ctx(t), newApp("zzz", "acct-1", registration.StepNotice)); !errors.Is(err, registration.ErrNotFound) {
		t.Errorf("CreateApplication for unknown exam: err = %v, want ErrNotFound", err)
	}
	if _, err := s.CreateApplication(ctx(t), newApp("a2022", "acct-2", registration.StepComplete)); !errors.Is(err, registration.ErrWrongStep) {
		t.Errorf("CreateApplication at StepComplete: err = %v, want ErrWrongStep", err)
	}
	if _, err := s.Application(ctx(t), "a2022", "acct-2"); !errors.Is(err, registration.ErrNotFound) {
		t.Errorf("Application(missing): err = %v, want ErrNotFound", err)
	}
	// A profile with no pages saved round-trips as such.
	bare := registration.Application{ExamCode: "a2022", AccountID: "acct-3", Step: registration.StepNotice}
	create(t, s, bare)
	read, err = s.Application(ctx(t), "a2022", "acct-3")
	if err != nil {
		t.Fatal(err)
	}
	if read.Profile.Basic != nil || read.Profile.Education != nil || read.Profile.Work != nil || read.Profile.Other != nil {
		t.Errorf("bare application came back with pages: %+v", read.Profile)
	}
}

func testConcurrentCreate(t *testing.T, s registration.Store) {
	mustImport(t, s, fixture())
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.CreateApplication(ctx(t), newApp("a2022", "acct-1", registration.StepNotice))
		})
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, registration.ErrExists):
			t.Errorf("concurrent CreateApplication: %v", err)
		}
	}
	if created != 1 {
		t.Errorf("%d concurrent creates succeeded, want 1", created)
	}
}

func testUpdateApplication(t *testing.T, s registration.Store) {
	mustImport(t, s, fixture())
	a := create(t, s, newApp("a2022", "acct-1", registration.StepTerms))
	a.PositionCode = "0100101"
	a.Step = registration.StepReviewFailed
	a.TermsAcceptedAt = time.Date(2022, 2, 28, 11, 0, 0, 0, time.UTC)
	a.Review = registration.Review{
		Outcome: registration.OutcomeFailed, PositionCode: "0100101", At: time.Date(2022, 2, 28, 11, 0, 0, 0, time.UTC),
		Reasons: []review.Reason{
			{Requirement: review.Education, Message: "本职位要求学历为本科及以上，您填写的最高学历为大专"},
			{Requirement: review.Major, Message: "专业不符"},
		},
	}
	a.Profile.Work.GrassrootsYears = 3
	a.Profile.Other = nil
	a.UpdatedAt = time.Date(2022, 2, 28, 11, 0, 0, 123000, time.UTC)
	a.Number = 42 // ignored: only Submit numbers
	got, err := s.UpdateApplication(ctx(t), a)
	if err != nil {
		t.Fatal(err)
	}
	want := a
	want.Version = 2
	want.Number = 0
	sameApp(t, "UpdateApplication", got, want)
	read, err := s.Application(ctx(t), "a2022", "acct-1")
	if err != nil {
		t.Fatal(err)
	}
	sameApp(t, "Application after update", read, want)

	stale := a // still Version 1
	stale.Step = registration.StepPosition
	if _, err := s.UpdateApplication(ctx(t), stale); !errors.Is(err, registration.ErrConflict) {
		t.Errorf("stale UpdateApplication: err = %v, want ErrConflict", err)
	}
	read, _ = s.Application(ctx(t), "a2022", "acct-1")
	sameApp(t, "Application after a refused update", read, want)

	complete := read
	complete.Step = registration.StepComplete
	if _, err := s.UpdateApplication(ctx(t), complete); !errors.Is(err, registration.ErrWrongStep) {
		t.Errorf("UpdateApplication to StepComplete: err = %v, want ErrWrongStep", err)
	}
	missing := newApp("a2022", "acct-9", registration.StepInfo)
	missing.Version = 1
	if _, err := s.UpdateApplication(ctx(t), missing); !errors.Is(err, registration.ErrNotFound) {
		t.Errorf("UpdateApplication(missing): err = %v, want ErrNotFound", err)
	}
}

func testConcurrentUpdate(t *testing.T, s registration.Store) {
	mustImport(t, s, fixture())
	a := create(t, s, newApp("a2022", "acct-1", registration.StepNotice))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			b := a
			b.Step = registration.StepInfo
			b.Portal = fmt.Sprintf("p%d", i)
			_, errs[i] = s.UpdateApplication(ctx(t), b)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, registration.ErrConflict):
			t.Errorf("concurrent UpdateApplication: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d updates of one version succeeded, want 1", ok)
	}
	read, err := s.Application(ctx(t), "a2022", "acct-1")
	if err != nil || read.Version != 2 {
		t.Errorf("Version after one update = %d, %v, want 2", read.Version, err)
	}
}

// toConfirm creates an application at StepConfirm.
func toConfirm(t *testing.T, s registration.Store, exam, account, position string) registration.Application {
	t.Helper()
	a := newApp(exam, account, registration.StepConfirm)
	a.PositionCode = position
	a.Review = registration.Review{Outcome: registration.OutcomePassed, PositionCode: position, At: a.UpdatedAt}
	return create(t, s, a)
}

func testSubmit(t *testing.T, s registration.Store) {
	mustImport(t, s, fixture())
	early := create(t, s, newApp("a2022", "acct-0", registration.StepEligible))
	if _, _, err := s.Submit(ctx(t), "a2022", "acct-0", time.Now()); !errors.Is(err, registration.ErrWrongStep) {
		t.Errorf("Submit at StepEligible: err = %v, want ErrWrongStep", err)
	}
	read, _ := s.Application(ctx(t), "a2022", "acct-0")
	sameApp(t, "application after a refused Submit", read, early)
	if _, _, err := s.Submit(ctx(t), "a2022", "nobody", time.Now()); !errors.Is(err, registration.ErrNotFound) {
		t.Errorf("Submit(missing): err = %v, want ErrNotFound", err)
	}

	a := toConfirm(t, s, "a2022", "acct-1", "0100101")
	at := time.Date(2022, 3, 1, 8, 0, 0, 0, time.UTC)
	got, submitted, err := s.Submit(ctx(t), "a2022", "acct-1", at)
	if err != nil || !submitted {
		t.Fatalf("Submit = %v, %v", submitted, err)
	}
	want := a
	want.Step = registration.StepComplete
	want.SubmittedAt = at
	want.Number = 1
	want.Version = a.Version + 1
	want.UpdatedAt = got.UpdatedAt
	sameApp(t, "Submit", got, want)

	again, submitted, err := s.Submit(ctx(t), "a2022", "acct-1", at.Add(time.Hour))
	if err != nil || submitted {
		t.Fatalf("second Submit = %v, %v, want false, nil", submitted, err)
	}
	sameApp(t, "second Submit", again, got)

	toConfirm(t, s, "a2022", "acct-2", "0100102")
	gotB, _, err := s.Submit(ctx(t), "a2022", "acct-2", at)
	if err != nil || gotB.Number != 2 {
		t.Errorf("next Submit: Number = %d, %v, want 2", gotB.Number, err)
	}
	// Numbers count per exam.
	toConfirm(t, s, "b2022", "acct-1", "0100101")
	if gotC, _, err := s.Submit(ctx(t), "b2022", "acct-1", at); err != nil || gotC.Number != 1 {
		t.Errorf("first Submit in another exam: Number = %d, %v, want 1", gotC.Number, err)
	}

	changed := got
	changed.Step = registration.StepConfirm
	if _, err := s.UpdateApplication(ctx(t), changed); !errors.Is(err, registration.ErrSubmitted) {
		t.Errorf("UpdateApplication of a complete application: err = %v, want ErrSubmitted", err)
	}
}

func testConcurrentSubmit(t *testing.T, s registration.Store) {
	mustImport(t, s, fixture())
	toConfirm(t, s, "a2022", "acct-1", "0100101")
	toConfirm(t, s, "a2022", "acct-2", "0100101")
	const n = 8
	type result struct {
		a         registration.Application
		submitted bool
		err       error
	}
	results := make([]result, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		wg.Go(func() {
			acct := fmt.Sprintf("acct-%d", i%2+1)
			a, submitted, err := s.Submit(ctx(t), "a2022", acct, time.Date(2022, 3, 1, 8, 0, i, 0, time.UTC))
			results[i] = result{a, submitted, err}
		})
	}
	wg.Wait()
	numbers := map[string]int64{}
	submits := map[string]int{}
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("concurrent Submit: %v", r.err)
		}
		acct := r.a.AccountID
		if r.submitted {
			submits[acct]++
		}
		if prev, ok := numbers[acct]; ok && prev != r.a.Number {
			t.Errorf("call %d: %s got number %d, another call %d", i, acct, r.a.Number, prev)
		}
		numbers[acct] = r.a.Number
	}
	if submits["acct-1"] != 1 || submits["acct-2"] != 1 {
		t.Errorf("submitting calls = %v, want one per account", submits)
	}
	got := []int64{numbers["acct-1"], numbers["acct-2"]}
	slices.Sort(got)
	if !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("numbers = %v, want 1 and 2", got)
	}
	counts, err := s.StepCounts(ctx(t))
	if err != nil || counts[registration.StepComplete] != 2 {
		t.Errorf("complete applications = %d, %v, want 2", counts[registration.StepComplete], err)
	}
}

func testCounterSurvivesImport(t *testing.T, s registration.Store) {
	mustImport(t, s, fixture())
	toConfirm(t, s, "a2022", "acct-1", "0100101")
	if _, _, err := s.Submit(ctx(t), "a2022", "acct-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	mustImport(t, s, fixture())
	toConfirm(t, s, "a2022", "acct-2", "0100101")
	a, _, err := s.Submit(ctx(t), "a2022", "acct-2", time.Now())
	if err != nil || a.Number != 2 {
		t.Errorf("Number after a re-import = %d, %v, want 2", a.Number, err)
	}
}

func testListApplications(t *testing.T, s registration.Store) {
	mustImport(t, s, fixture())
	accounts := []string{"k05", "k01", "k04", "k02", "k03"}
	for _, acct := range accounts {
		toConfirm(t, s, "a2022", acct, "0100101")
	}
	create(t, s, newApp("b2022", "k00", registration.StepNotice))
	for _, acct := range []string{"k02", "k04"} {
		if _, _, err := s.Submit(ctx(t), "a2022", acct, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	after := ""
	for {
		page, err := s.ListApplications(ctx(t), "a2022", registration.ListOptions{After: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("page of %d, limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, a := range page {
			got = append(got, a.AccountID)
			if a.ExamCode != "a2022" || a.Profile.Basic == nil {
				t.Errorf("listed application %+v", a)
			}
		}
		after = page[len(page)-1].AccountID
	}
	if want := []string{"k01", "k02", "k03", "k04", "k05"}; !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v", got, want)
	}
	complete, err := s.ListApplications(ctx(t), "a2022", registration.ListOptions{CompleteOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(complete) != 2 || complete[0].AccountID != "k02" || complete[1].AccountID != "k04" || complete[0].Number == 0 {
		t.Errorf("complete only = %+v", complete)
	}
}

func testPositionCounts(t *testing.T, s registration.Store) {
	mustImport(t, s, fixture())
	add := func(acct, position string, step registration.Step, outcome registration.Outcome) {
		a := newApp("a2022", acct, step)
		a.PositionCode = position
		a.Review.Outcome = outcome
		if outcome != registration.OutcomeNone {
			a.Review.PositionCode = position
		}
		create(t, s, a)
	}
	add("c1", "0100101", registration.StepTerms, registration.OutcomeNone)
	add("c2", "0100101", registration.StepReviewFailed, registration.OutcomeFailed)
	add("c3", "0100101", registration.StepEligible, registration.OutcomePassed)
	add("c4", "0100101", registration.StepConfirm, registration.OutcomePassed)
	add("c5", "0100102", registration.StepConfirm, registration.OutcomePassed)
	add("c6", "", registration.StepInfo, registration.OutcomeNone)
	if _, _, err := s.Submit(ctx(t), "a2022", "c4", time.Now()); err != nil {
		t.Fatal(err)
	}
	// Another exam's applications do not count.
	b := newApp("b2022", "c1", registration.StepEligible)
	b.PositionCode = "0100101"
	b.Review.Outcome = registration.OutcomePassed
	create(t, s, b)

	got, err := s.PositionCounts(ctx(t), "a2022")
	if err != nil {
		t.Fatal(err)
	}
	want := []registration.PositionCount{
		{PositionCode: "0100101", Applicants: 4, Passed: 2, Submitted: 1},
		{PositionCode: "0100102", Applicants: 1, Passed: 1, Submitted: 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PositionCounts = %+v\nwant %+v", got, want)
	}
	if got, err := s.PositionCounts(ctx(t), "zzz"); err != nil || len(got) != 0 {
		t.Errorf("PositionCounts(unknown exam) = %+v, %v", got, err)
	}
}

func testStepCounts(t *testing.T, s registration.Store) {
	if got, err := s.StepCounts(ctx(t)); err != nil || len(nonZero(got)) != 0 {
		t.Errorf("StepCounts on empty store = %v, %v", got, err)
	}
	mustImport(t, s, fixture())
	create(t, s, newApp("a2022", "c1", registration.StepNotice))
	create(t, s, newApp("a2022", "c2", registration.StepInfo))
	create(t, s, newApp("b2022", "c1", registration.StepInfo))
	toConfirm(t, s, "a2022", "c3", "0100101")
	toConfirm(t, s, "a2022", "c4", "0100101")
	if _, _, err := s.Submit(ctx(t), "a2022", "c4", time.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := s.StepCounts(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[registration.Step]int{
		registration.StepNotice: 1, registration.StepInfo: 2, registration.StepConfirm: 1, registration.StepComplete: 1,
	}
	if !reflect.DeepEqual(nonZero(got), want) {
		t.Errorf("StepCounts = %v, want %v", got, want)
	}
}

func nonZero(m map[registration.Step]int) map[registration.Step]int {
	out := map[registration.Step]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}
