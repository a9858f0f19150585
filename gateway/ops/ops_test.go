package ops

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shiming-id/shiming/gateway/httpserver"
)

func get(t *testing.T, h http.Handler, method, path string) (int, string, http.Header) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	resp := w.Result()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func newHandler(t *testing.T, o Options) *Handler {
	t.Helper()
	if o.Gatherer == nil {
		o.Gatherer = prometheus.NewRegistry()
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestMetricsExposition(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shiming_test_events_total",
		Help: "Events seen by the test.",
	}, []string{"outcome"})
	reg.MustRegister(c)
	c.WithLabelValues("ok").Add(3)
	c.WithLabelValues("failed").Inc()

	srv := httptest.NewServer(newHandler(t, Options{Gatherer: reg}))
	defer srv.Close()
	want := `
# HELP shiming_test_events_total Events seen by the test.
# TYPE shiming_test_events_total counter
shiming_test_events_total{outcome="failed"} 1
shiming_test_events_total{outcome="ok"} 3
`
	if err := testutil.ScrapeAndCompare(srv.URL+"/metrics", strings.NewReader(want), "shiming_test_events_total"); err != nil {
		t.Error(err)
	}
}

func TestMetricsContinueOnCollectorError(t *testing.T) {
	reg := prometheus.NewRegistry()
	good := prometheus.NewCounter(prometheus.CounterOpts{Name: "shiming_test_good_total", Help: "A working counter."})
	good.Inc()
	reg.MustRegister(good, failingCollector{})
	logs := &bytes.Buffer{}
	h := newHandler(t, Options{Gatherer: reg, Logger: slogTo(logs)})
	status, body, _ := get(t, h, "GET", "/metrics")
	if status != http.StatusOK || !strings.Contains(body, "shiming_test_good_total 1") {
		t.Fatalf("status %d, body:\n%s", status, body)
	}
	if !strings.Contains(logs.String(), "metrics gathering failed") {
		t.Error("the collector error was not logged")
	}
}

func TestNewRegistry(t *testing.T) {
	reg := NewRegistry()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_open_fds"} {
		if !names[want] {
			t.Errorf("registry lacks %s", want)
		}
	}
}

func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not on PATH (CI=true)")
		}
		t.Skip("promtool not on PATH; install Debian's prometheus package to run this test")
	}

	// Everything the gateway's ops listener will expose from this change:
	// runtime, process, HTTP metrics and promhttp's own.
	reg := NewRegistry()
	m, err := httpserver.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	rt := httpserver.NewRouter()
	rt.HandleFunc("GET /{portal}/login", func(w http.ResponseWriter, r *http.Request) {})
	co, err := httpserver.CrossOrigin(httpserver.CrossOriginOptions{Rejections: m.CrossOriginRejections()})
	if err != nil {
		t.Fatal(err)
	}
	public := httpserver.Chain(rt, m.Middleware, co)
	for _, p := range []string{"/hunanpea/login", "/nowhere"} {
		public.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}

	h := newHandler(t, Options{Gatherer: reg, Registerer: reg})
	get(t, h, "GET", "/metrics") // so promhttp's counters have a sample
	status, body, header := get(t, h, "GET", "/metrics")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	if !strings.HasPrefix(header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("Content-Type = %q, want the text format", header.Get("Content-Type"))
	}
	for _, name := range []string{"shiming_http_requests_total", "shiming_http_request_duration_seconds_bucket", "shiming_http_cross_origin_rejections_total", "promhttp_metric_handler_requests_total"} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestHealthz(t *testing.T) {
	h := newHandler(t, Options{Checks: []Check{{Name: "database", Func: func(context.Context) error { return errors.New("down") }}}})
	status, body, _ := get(t, h, "GET", "/healthz")
	if status != http.StatusOK || body != "ok\n" {
		t.Fatalf("/healthz = %d %q; it must not depend on checks", status, body)
	}
}

func TestReadyz(t *testing.T) {
	pass := func(context.Context) error { return nil }
	fail := func(context.Context) error { return errors.New("connection refused to 10.0.0.5") }
	slow := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	stuck := func(context.Context) error { <-block; return nil }
	panics := func(context.Context) error { panic("boom") }

	for _, tc := range []struct {
		name   string
		checks []Check
		status int
		body   string
	}{
		{"no checks", nil, http.StatusOK, "ok\n"},
		{"all pass", []Check{{Name: "plugin:wechat", Func: pass}, {Name: "database", Func: pass}}, http.StatusOK,
			"ok database\nok plugin:wechat\n"},
		{"one fails", []Check{{Name: "database", Func: fail}, {Name: "plugin:wechat", Func: pass}}, http.StatusServiceUnavailable,
			"fail database: error\nok plugin:wechat\n"},
		{"deadline", []Check{{Name: "database", Timeout: time.Millisecond, Func: slow}}, http.StatusServiceUnavailable,
			"fail database: timeout\n"},
		{"check ignores its context", []Check{{Name: "plugin:ctid", Timeout: time.Millisecond, Func: stuck}}, http.StatusServiceUnavailable,
			"fail plugin:ctid: timeout\n"},
		{"check panics", []Check{{Name: "plugin:sms", Func: panics}}, http.StatusServiceUnavailable,
			"fail plugin:sms: error\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &bytes.Buffer{}
			h := newHandler(t, Options{Checks: tc.checks, Logger: slogTo(logs)})
			status, body, header := get(t, h, "GET", "/readyz")
			if status != tc.status || body != tc.body {
				t.Fatalf("/readyz = %d %q, want %d %q", status, body, tc.status, tc.body)
			}
			if header.Get("Cache-Control") != "no-store" {
				t.Error("readiness may be cached")
			}
			if strings.Contains(body, "10.0.0.5") {
				t.Error("error details leaked into the response")
			}
			if tc.status != http.StatusOK && !strings.Contains(logs.String(), "readiness check failed") {
				t.Error("the failure was not logged")
			}
		})
	}
}

func TestAddCheckAndDrain(t *testing.T) {
	h := newHandler(t, Options{})
	if err := h.AddCheck(Check{Name: "database", Func: func(context.Context) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	if err := h.AddCheck(Check{Name: "database", Func: func(context.Context) error { return nil }}); err == nil {
		t.Error("a duplicate name was accepted")
	}
	if err := h.AddCheck(Check{Name: "nameless-func"}); err == nil {
		t.Error("a check without a func was accepted")
	}
	if status, body, _ := get(t, h, "GET", "/readyz"); status != http.StatusOK || body != "ok database\n" {
		t.Fatalf("/readyz = %d %q", status, body)
	}
	h.Drain()
	if status, body, _ := get(t, h, "GET", "/readyz"); status != http.StatusServiceUnavailable || body != "fail draining\n" {
		t.Fatalf("/readyz while draining = %d %q", status, body)
	}
	if status, _, _ := get(t, h, "GET", "/healthz"); status != http.StatusOK {
		t.Error("/healthz fails while draining")
	}
}

func TestRoutes(t *testing.T) {
	h := newHandler(t, Options{})
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"POST", "/metrics", http.StatusMethodNotAllowed},
		{"HEAD", "/healthz", http.StatusOK},
		{"GET", "/", http.StatusNotFound},
		{"GET", "/debug/pprof/", http.StatusNotFound},
	} {
		if status, _, _ := get(t, h, tc.method, tc.path); status != tc.status {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, status, tc.status)
		}
	}
}

func TestNewNeedsGatherer(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("no error without a gatherer")
	}
}

// failingCollector always reports an error, like a broken exporter.
type failingCollector struct{}

func (failingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- prometheus.NewDesc("shiming_test_broken", "Always fails.", nil, nil)
}

func (failingCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(prometheus.NewDesc("shiming_test_broken", "Always fails.", nil, nil), errors.New("broken"))
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func TestWatchReadiness(t *testing.T) {
	var healthy atomic.Bool
	h := newHandler(t, Options{Checks: []Check{{Name: "database", Func: func(context.Context) error {
		if healthy.Load() {
			return nil
		}
		return errors.New("down")
	}}}})
	reg := prometheus.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := h.WatchReadiness(ctx, reg, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitFor := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second) // liveness bound, not a timing assertion
		for {
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			if len(mfs) == 1 && mfs[0].GetMetric()[0].GetGauge().GetValue() == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("shiming_ready never became %v", want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor(0)
	healthy.Store(true)
	waitFor(1)
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatal(problems, err)
	}
}
