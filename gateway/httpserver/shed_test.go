package httpserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestShedRefusesBeyondMaxInFlight holds two requests in their handler
// with a limit of two: a third is refused at once with the 503 page, an
// error id and Retry-After, counted and labelled "shed" in the request
// metrics; once one finishes, the next is served again.
func TestShedRefusesBeyondMaxInFlight(t *testing.T) {
	logger, _ := testLogger()
	m, err := NewMetrics(prometheus.NewPedanticRegistry())
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			<-release
		}
		w.Write([]byte("ok"))
	})
	h := Chain(slow, RequestID(logger), m.Middleware, Shed(ShedOptions{MaxInFlight: 2, Shed: m.Shed()}))

	done := make(chan int, 2)
	for range 2 {
		go func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/slow", nil))
			done <- w.Code
		}()
		<-entered
	}

	resp, body := serve(t, h, httptest.NewRequest("GET", "/fast", nil))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "5" {
		t.Fatalf("third request: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, "系统繁忙") || errorIDIn(t, body) == "" {
		t.Fatalf("the refusal is not the 503 page with an error id:\n%s", body)
	}
	if got := testutil.ToFloat64(m.Shed()); got != 1 {
		t.Fatalf("shed counter = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues(ShedRoute, "5xx")); got != 1 {
		t.Fatalf(`requests{route="shed",code="5xx"} = %v, want 1`, got)
	}

	release <- struct{}{}
	if code := <-done; code != http.StatusOK {
		t.Fatalf("a held request ended with %d", code)
	}
	if resp, _ := serve(t, h, httptest.NewRequest("GET", "/fast", nil)); resp.StatusCode != http.StatusOK {
		t.Fatalf("with a slot free again: %d", resp.StatusCode)
	}
	close(release)
	if code := <-done; code != http.StatusOK {
		t.Fatalf("a held request ended with %d", code)
	}
}
