package httpserver

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetrics(t *testing.T) {
	logger, _ := testLogger()
	reg := prometheus.NewPedanticRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	rt := NewRouter()
	rt.HandleFunc("GET /{portal}/login", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	rt.HandleFunc("POST /{portal}/login", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/done", http.StatusSeeOther)
	})
	rt.HandleFunc("GET /broken", func(w http.ResponseWriter, r *http.Request) {
		Error(w, r, http.StatusServiceUnavailable, "", errors.New("vendor down"))
	})
	rt.HandleFunc("GET /panics", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	h := Chain(rt, RequestID(logger), m.Middleware, AccessLog(logger), Recover(logger))

	for _, req := range []struct{ method, path string }{
		{"GET", "/hunanpea/login"},
		{"GET", "/hxw/login?code=123456"},
		{"POST", "/zwfw/login"},
		{"GET", "/broken"},
		{"GET", "/panics"},
		{"GET", "/430104199001011234"},
		{"DELETE", "/hxw/login"},
	} {
		serve(t, h, httptest.NewRequest(req.method, req.path, nil))
	}

	want := `
# HELP shiming_http_requests_total HTTP requests served, by route pattern and status class.
# TYPE shiming_http_requests_total counter
shiming_http_requests_total{code="2xx",route="GET /{portal}/login"} 2
shiming_http_requests_total{code="3xx",route="POST /{portal}/login"} 1
shiming_http_requests_total{code="4xx",route="unmatched"} 2
shiming_http_requests_total{code="5xx",route="GET /broken"} 1
shiming_http_requests_total{code="5xx",route="GET /panics"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "shiming_http_requests_total"); err != nil {
		t.Error(err)
	}

	counts := map[string]uint64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "shiming_http_request_duration_seconds" {
			continue
		}
		for _, metric := range mf.GetMetric() {
			counts[metric.GetLabel()[0].GetValue()] = metric.GetHistogram().GetSampleCount()
		}
	}
	wantCounts := map[string]uint64{"GET /{portal}/login": 2, "POST /{portal}/login": 1, "GET /broken": 1, "GET /panics": 1, "unmatched": 2}
	if len(counts) != len(wantCounts) {
		t.Errorf("duration series = %v, want %v", counts, wantCounts)
	}
	for route, n := range wantCounts {
		if counts[route] != n {
			t.Errorf("duration count for %q = %d, want %d", route, counts[route], n)
		}
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Fatal("registering twice did not fail")
	}
}

func TestStatusClass(t *testing.T) {
	for code, want := range map[int]string{103: "1xx", 200: "2xx", 204: "2xx", 302: "3xx", 404: "4xx", 499: "4xx", 500: "5xx", 503: "5xx"} {
		if got := statusClass(code); got != want {
			t.Errorf("statusClass(%d) = %s, want %s", code, got, want)
		}
	}
}
