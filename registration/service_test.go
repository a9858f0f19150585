package registration_test

import (
	"errors"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/catalog"
	"github.com/shiming-id/shiming/registration/memstore"
	"github.com/shiming-id/shiming/registration/registrationtest"
)

type fixture struct {
	store *memstore.Store
	svc   *registration.Service
	reg   *prometheus.Registry
	audit *registrationtest.Auditor
	cand  *registrationtest.Candidate
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{store: memstore.New(), reg: prometheus.NewRegistry(), audit: &registrationtest.Auditor{},
		now: time.Date(2022, 3, 1, 12, 0, 0, 0, catalog.Location())}
	c, err := catalog.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.ImportCatalog(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	f.cand = registrationtest.NewCandidate("acct-1", "王五",
		registrationtest.MakeID("430602", time.Date(1998, 2, 27, 0, 0, 0, 0, time.UTC), cnid.Female), "13700001234")
	f.svc, err = registration.New(registration.Config{
		Store: f.store, Candidates: registrationtest.NewCandidates(f.cand), Auditor: f.audit,
		Now: func() time.Time { return f.now }, Registerer: f.reg, Portals: []string{"hunanpea", "hxw", "zwfw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

const exam = "hn2022gwy"

// walk does steps 1 to 3 with a bachelor's degree in statistics.
func (f *fixture) walk(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	must := func(_ registration.Application, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.svc.Pledge(ctx, "hxw", exam, f.cand, true))
	must(f.svc.AcceptNotice(ctx, "hxw", exam, f.cand, true))
	pages := map[registration.Page]url.Values{
		registration.PageBasic: {"ethnicity": {"土家族"}, "political": {"中共党员"}, "household": {"4306"}, "origin": {"4306"},
			"address": {"岳阳市某路2号"}, "postcode": {"414000"}},
		registration.PageEducation: {"level": {"3"}, "degree": {"1"}, "school": {"某大学"}, "graduated": {"2020-06"},
			"major_category": {"统计学类"}, "major": {"统计学"}},
		registration.PageWork:  {"grassroots_years": {"0"}},
		registration.PageOther: {"family": {"父 王某"}},
	}
	for _, p := range registration.Pages() {
		_, fe, err := f.svc.SaveInfo(ctx, "hxw", exam, f.cand, p, pages[p])
		if err != nil || len(fe) > 0 {
			t.Fatalf("SaveInfo(%s) = %v, %v", p, fe, err)
		}
	}
	must(f.svc.SubmitInfo(ctx, "hxw", exam, f.cand))
}

func TestNewRequiresDependencies(t *testing.T) {
	_, err := registration.New(registration.Config{})
	if err == nil || !strings.Contains(err.Error(), "Store") || !strings.Contains(err.Error(), "Auditor") {
		t.Errorf("New(empty) = %v, want every missing dependency named", err)
	}
}

func TestImportCSVTwoBadRowsImportsNothing(t *testing.T) {
	store := memstore.New()
	f, err := os.Open("catalog/testdata/two_bad_rows.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = registration.ImportCSV(t.Context(), store, f)
	var ie *catalog.ImportError
	if !errors.As(err, &ie) || !slices.Equal(ie.Lines(), []int{4, 6}) {
		t.Fatalf("ImportCSV = %v, want problems on lines 4 and 6", err)
	}
	if exams, _ := store.Exams(t.Context()); len(exams) != 0 {
		t.Errorf("a refused file imported %d exams", len(exams))
	}

	sum, err := registration.ImportCSV(t.Context(), store, strings.NewReader(string(catalog.SampleCSV())))
	if err != nil || !slices.Equal(sum.Exams, []string{exam}) || sum.Positions < 60 {
		t.Errorf("ImportCSV(sample) = %+v, %v", sum, err)
	}
}

// TestConfirmReviewsAgain changes the catalog between the review and the
// final submit: the submit is refused and the opinion shows why.
func TestConfirmReviewsAgain(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.walk(t)
	if _, err := f.svc.ChoosePosition(ctx, "hxw", exam, f.cand, "0100101"); err != nil {
		t.Fatal(err)
	}
	a, err := f.svc.AcceptTerms(ctx, "hxw", exam, f.cand)
	if err != nil || a.Step != registration.StepEligible {
		t.Fatalf("AcceptTerms = %v, %v", a.Step, err)
	}
	if _, err := f.svc.Proceed(ctx, "hxw", exam, f.cand); err != nil {
		t.Fatal(err)
	}
	// The authority now restricts the position to men.
	c, _ := catalog.Sample()
	for i, p := range c.Positions {
		if p.Code == "0100101" {
			c.Positions[i].Requirements.Gender = cnid.Male
		}
	}
	if err := f.store.ImportCatalog(ctx, c); err != nil {
		t.Fatal(err)
	}
	a, err = f.svc.Confirm(ctx, "hxw", exam, f.cand)
	if !errors.Is(err, registration.ErrReviewChanged) {
		t.Fatalf("Confirm = %v, want ErrReviewChanged", err)
	}
	if a.Step != registration.StepReviewFailed || len(a.Review.Reasons) != 1 || a.Review.Reasons[0].Message != "本职位限男性报考，您的性别为女" {
		t.Errorf("after a changed review: step %v, reasons %+v", a.Step, a.Review.Reasons)
	}
	if len(f.audit.Records("registration.submit")) != 0 {
		t.Error("a refused submit was audited")
	}
}

func TestStepsInOrder(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if _, err := f.svc.AcceptNotice(ctx, "hxw", exam, f.cand, true); !errors.Is(err, registration.ErrWrongStep) {
		t.Errorf("AcceptNotice before the pledge: %v", err)
	}
	if _, err := f.svc.Pledge(ctx, "hxw", exam, f.cand, false); !errors.Is(err, registration.ErrNotAgreed) {
		t.Errorf("Pledge unticked: %v", err)
	}
	if _, err := f.svc.Pledge(ctx, "hxw", exam, f.cand, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Pledge(ctx, "hxw", exam, f.cand, true); !errors.Is(err, registration.ErrWrongStep) {
		t.Errorf("second Pledge: %v", err)
	}
	if _, err := f.svc.SubmitInfo(ctx, "hxw", exam, f.cand); !errors.Is(err, registration.ErrWrongStep) {
		t.Errorf("SubmitInfo at the notice: %v", err)
	}
	if _, err := f.svc.AcceptNotice(ctx, "hxw", exam, f.cand, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SubmitInfo(ctx, "hxw", exam, f.cand); !errors.Is(err, registration.ErrIncomplete) {
		t.Errorf("SubmitInfo with no pages: %v", err)
	}
	if _, _, err := f.svc.SaveInfo(ctx, "hxw", exam, f.cand, registration.PageOther, url.Values{"family": {"x"}}); !errors.Is(err, registration.ErrWrongStep) {
		t.Errorf("saving the fourth page first: %v", err)
	}
	if _, err := f.svc.Confirm(ctx, "hxw", exam, f.cand); !errors.Is(err, registration.ErrWrongStep) {
		t.Errorf("Confirm at step 3: %v", err)
	}
	f.now = time.Date(2022, 3, 5, 17, 0, 0, 0, catalog.Location())
	_, _, err := f.svc.SaveInfo(ctx, "hxw", exam, f.cand, registration.PageBasic, url.Values{})
	var we *registration.WindowError
	if !errors.As(err, &we) || we.Window != catalog.WindowClosed || !errors.Is(err, registration.ErrNotOpen) {
		t.Errorf("SaveInfo after the window: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	problems, err := testutil.GatherAndLint(f.reg)
	if err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
	// Every known label combination exists at zero from the start.
	if got := testutil.CollectAndCount(f.reg, "shiming_registration_steps_total"); got != 3*13*5 {
		t.Errorf("%d step series, want %d", got, 3*13*5)
	}
	if got := testutil.CollectAndCount(f.reg, "shiming_reviews_total"); got != 9 {
		t.Errorf("%d review series, want 9", got)
	}
	if got := testutil.CollectAndCount(f.reg, "shiming_applications"); got != 8 {
		t.Errorf("%d application series, want 8", got)
	}

	f.walk(t)
	ctx := t.Context()
	if _, err := f.svc.ChoosePosition(ctx, "hxw", exam, f.cand, "0100202"); err != nil { // 女, 大专, 法学类…: major fails
		t.Fatal(err)
	}
	if _, err := f.svc.AcceptTerms(ctx, "hxw", exam, f.cand); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ChangePosition(ctx, "hxw", exam, f.cand); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ChoosePosition(ctx, "hxw", exam, f.cand, "0100101"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.SaveInfo(ctx, "hxw", exam, f.cand, registration.PageBasic, url.Values{}); !errors.Is(err, registration.ErrWrongStep) {
		t.Fatal(err)
	}

	want := `
# HELP shiming_applications Applications by the step they stand at (status), counted from the store at scrape time.
# TYPE shiming_applications gauge
shiming_applications{status="complete"} 0
shiming_applications{status="confirm"} 0
shiming_applications{status="eligible"} 1
shiming_applications{status="info"} 0
shiming_applications{status="notice"} 0
shiming_applications{status="position"} 0
shiming_applications{status="review_failed"} 0
shiming_applications{status="terms"} 0
# HELP shiming_reviews_total Automatic preliminary reviews: outcome passed with requirement none, or one count per unmet requirement for outcome failed.
# TYPE shiming_reviews_total counter
shiming_reviews_total{outcome="failed",requirement="age"} 0
shiming_reviews_total{outcome="failed",requirement="degree"} 0
shiming_reviews_total{outcome="failed",requirement="education"} 0
shiming_reviews_total{outcome="failed",requirement="gender"} 0
shiming_reviews_total{outcome="failed",requirement="household"} 0
shiming_reviews_total{outcome="failed",requirement="major"} 1
shiming_reviews_total{outcome="failed",requirement="political_status"} 0
shiming_reviews_total{outcome="failed",requirement="work_years"} 0
shiming_reviews_total{outcome="passed",requirement="none"} 1
`
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(want), "shiming_applications", "shiming_reviews_total"); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		step, outcome string
		want          float64
	}{
		{"pledge", "ok", 1}, {"info_basic", "ok", 1}, {"info_basic", "wrong_step", 1}, {"terms", "ok", 1},
		{"change_position", "ok", 1}, {"position", "ok", 2}, {"pledge", "outside_window", 0},
	} {
		m, err := stepCounter(f.reg, "hxw", c.step, c.outcome)
		if err != nil || m != c.want {
			t.Errorf("steps{hxw,%s,%s} = %v, %v, want %v", c.step, c.outcome, m, err, c.want)
		}
	}
}

func stepCounter(reg *prometheus.Registry, portal, step, outcome string) (float64, error) {
	families, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	for _, f := range families {
		if f.GetName() != "shiming_registration_steps_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["portal"] == portal && l["step"] == step && l["outcome"] == outcome {
				return m.GetCounter().GetValue(), nil
			}
		}
	}
	return 0, errors.New("no such series")
}
