package web

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shiming-id/shiming/plugins/sdk/cnid"
	"github.com/shiming-id/shiming/registration"
	"github.com/shiming-id/shiming/registration/catalog"
	"github.com/shiming-id/shiming/registration/memstore"
	"github.com/shiming-id/shiming/registration/registrationtest"
)

const (
	examCode = "hn2022gwy"
	base     = "/hunanpea/exam/" + examCode
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

type env struct {
	t      *testing.T
	clock  *clock
	store  *memstore.Store
	svc    *registration.Service
	mux    *http.ServeMux
	cands  *registrationtest.Candidates
	audit  *registrationtest.Auditor
	reg    *prometheus.Registry
	zhang  *registrationtest.Candidate // male, born 1995-06-15, Changsha
	opCook *http.Cookie
}

// during is inside the sample window.
var during = time.Date(2022, 2, 28, 10, 0, 0, 0, catalog.Location())

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith is newEnv with the service's store wrapped by wrap.
func newEnvWith(t *testing.T, wrap func(registration.Store) registration.Store) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{now: during}, store: memstore.New(), audit: &registrationtest.Auditor{}, reg: prometheus.NewRegistry()}
	c, err := catalog.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.ImportCatalog(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	e.zhang = registrationtest.NewCandidate("acct-zhang", "张三",
		registrationtest.MakeID("430102", time.Date(1995, 6, 15, 0, 0, 0, 0, time.UTC), cnid.Male), "13812345678")
	e.cands = registrationtest.NewCandidates(e.zhang)
	var store registration.Store = e.store
	if wrap != nil {
		store = wrap(e.store)
	}
	e.svc, err = registration.New(registration.Config{
		Store: store, Candidates: e.cands, Auditor: e.audit, Now: e.clock.Now,
		Registerer: e.reg, Portals: []string{"hunanpea", "hxw", "zwfw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ops, err := registrationtest.NewOperators(map[string]string{"kaowu": "correct horse battery staple"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(Config{
		Service: e.svc, Operators: ops, OperatorSessions: registrationtest.NewOperatorSessions(),
		ValidPortal: func(p string) bool { return p == "hunanpea" || p == "hxw" || p == "zwfw" },
		LoginURL:    func(portal, next string) string { return "/" + portal + "/login?next=" + url.QueryEscape(next) },
		SignOutURL:  func(portal string) string { return "/" + portal + "/logout" },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.mux = http.NewServeMux()
	h.Register(e.mux)
	return e
}

// addCandidate adds a signed-up candidate.
func (e *env) addCandidate(account string, birth time.Time, g cnid.Gender) *registrationtest.Candidate {
	c := registrationtest.NewCandidate(account, "考生"+account, registrationtest.MakeID("430102", birth, g), "13900001111")
	e.cands.Add(c)
	return c
}

// do serves one request as account ("" for nobody).
func (e *env) do(account, method, path string, body io.Reader, contentType string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, body)
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if account != "" {
		registrationtest.SignIn(r, account)
	}
	if e.opCook != nil && strings.HasPrefix(path, "/operator") {
		r.AddCookie(e.opCook)
	}
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	return w
}

func (e *env) get(account, path string) *httptest.ResponseRecorder {
	return e.do(account, http.MethodGet, path, nil, "")
}

func (e *env) post(account, path string, form url.Values) *httptest.ResponseRecorder {
	return e.do(account, http.MethodPost, path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
}

func (e *env) upload(path, field, name string, data []byte) *httptest.ResponseRecorder {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile(field, name)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = fw.Write(data)
	if err := mw.Close(); err != nil {
		e.t.Fatal(err)
	}
	return e.do("", http.MethodPost, path, &buf, mw.FormDataContentType())
}

// wantRedirect checks a 303 to want.
func wantRedirect(t *testing.T, w *httptest.ResponseRecorder, want string) {
	t.Helper()
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != want {
		t.Fatalf("got %d to %q, want 303 to %q\n%s", w.Code, w.Header().Get("Location"), want, w.Body.String())
	}
}

// wantPage checks a status and that the body contains every string.
func wantPage(t *testing.T, w *httptest.ResponseRecorder, status int, contains ...string) string {
	t.Helper()
	body := w.Body.String()
	if w.Code != status {
		t.Fatalf("status %d, want %d\n%s", w.Code, status, body)
	}
	for _, s := range contains {
		if !strings.Contains(body, s) {
			t.Errorf("page lacks %q\n%s", s, body)
		}
	}
	if ct := w.Header().Get("Content-Type"); strings.HasPrefix(body, "<!DOCTYPE") && ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "style=") {
		t.Errorf("page has inline script or style")
	}
	return body
}

func (e *env) step(account string) registration.Step {
	e.t.Helper()
	a, err := e.store.Application(e.t.Context(), examCode, account)
	if err != nil {
		return registration.StepPledge
	}
	return a.Step
}

// Forms of a candidate who holds a college diploma (大专) in law.
var (
	basicForm = url.Values{
		"ethnicity": {"汉族"}, "political": {"共青团员"}, "household": {"4301"}, "origin": {"4301"},
		"address": {"长沙市岳麓区麓山南路1号"}, "postcode": {"410000"}, "email": {"zhangsan@example.com"},
	}
	collegeForm = url.Values{
		"level": {"2"}, "degree": {"0"}, "school": {"湖南某职业学院"}, "graduated": {"2017-06"},
		"major_category": {"法学类"}, "major": {"法学"},
	}
	bachelorForm = url.Values{
		"level": {"3"}, "degree": {"1"}, "school": {"湖南某大学"}, "graduated": {"2019-06"},
		"major_category": {"统计学类"}, "major": {"统计学"},
	}
	workForm  = url.Values{"employer": {"某公司"}, "title": {"职员"}, "started_work": {"2019-07"}, "grassroots_years": {"0"}}
	otherForm = url.Values{"family": {"父 张某 务农\n母 李某 教师"}}
)

// toPosition walks account through steps 1 to 3 with the given education.
func (e *env) toPosition(account string, education url.Values) {
	e.t.Helper()
	wantRedirect(e.t, e.post(account, base+"/pledge", url.Values{"agree": {"yes"}}), base+"/notice")
	wantRedirect(e.t, e.post(account, base+"/notice", url.Values{"agree": {"yes"}}), base+"/info")
	wantRedirect(e.t, e.post(account, base+"/info/basic", basicForm), base+"/info/education")
	wantRedirect(e.t, e.post(account, base+"/info/education", education), base+"/info/work")
	wantRedirect(e.t, e.post(account, base+"/info/work", workForm), base+"/info/other")
	wantRedirect(e.t, e.post(account, base+"/info/other", otherForm), base+"/info")
	wantRedirect(e.t, e.post(account, base+"/info", nil), base+"/position")
}

// toConfirm walks account to step 8 on position 0100101 (本科, 统计学类).
func (e *env) toConfirm(account string) {
	e.t.Helper()
	e.toPosition(account, bachelorForm)
	wantRedirect(e.t, e.post(account, base+"/position", url.Values{"position": {"0100101"}}), base+"/terms")
	wantRedirect(e.t, e.post(account, base+"/terms", nil), base+"/review")
	wantRedirect(e.t, e.post(account, base+"/review/next", nil), base+"/confirm")
}

// stepCount reads shiming_registration_steps_total for one label set.
func (e *env) stepCount(portal, step, outcome string) float64 {
	e.t.Helper()
	return e.metric("shiming_registration_steps_total", map[string]string{"portal": portal, "step": step, "outcome": outcome})
}

// metric reads one series from the registry; it fails the test if the
// series does not exist.
func (e *env) metric(name string, labels map[string]string) float64 {
	e.t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	e.t.Fatalf("no series %s%v", name, labels)
	return 0
}

// barrierStore holds every Submit until n of them have arrived, so that
// concurrent final submits really meet in the store.
type barrierStore struct {
	registration.Store
	n       int
	mu      sync.Mutex
	arrived int
	release chan struct{}
}

func newBarrierStore(s registration.Store, n int) *barrierStore {
	return &barrierStore{Store: s, n: n, release: make(chan struct{})}
}

func (b *barrierStore) Submit(ctx context.Context, exam, account string, at time.Time) (registration.Application, bool, error) {
	b.mu.Lock()
	b.arrived++
	if b.arrived == b.n {
		close(b.release)
	}
	b.mu.Unlock()
	select {
	case <-b.release:
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
		// A safety valve so that a broken caller cannot hang the test;
		// the test then fails on the arrival count.
	}
	return b.Store.Submit(ctx, exam, account, at)
}
