package httpserver

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// durationBuckets are the request-duration histogram bounds in seconds.
// They reach 30 s because a page that waits on a vendor (face
// verification, CTID) can take that long; 0.3 s and 1 s sit on bounds
// so latency objectives can be read exactly.
func durationBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 1, 2.5, 5, 10, 20, 30}
}

// Metrics are the HTTP metrics of the public listener. Labels are
// bounded: route is the ServeMux pattern (or "unmatched"), never a raw
// path; code is the status class.
type Metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	crossOrigin prometheus.Counter
	shed        prometheus.Counter
}

// NewMetrics registers the HTTP metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shiming_http_requests_total",
			Help: "HTTP requests served, by route pattern and status class.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shiming_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route pattern.",
			Buckets: durationBuckets(),
		}, []string{"route"}),
		crossOrigin: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shiming_http_cross_origin_rejections_total",
			Help: "State-changing requests refused as cross-origin.",
		}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shiming_http_shed_total",
			Help: "Requests refused with 503 because the replica was serving limits.max_in_flight requests already.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.crossOrigin, m.shed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("httpserver: register metrics: %w", err)
		}
	}
	return m, nil
}

// CrossOriginRejections is the counter for CrossOriginOptions.Rejections.
func (m *Metrics) CrossOriginRejections() prometheus.Counter { return m.crossOrigin }

// Shed is the counter for ShedOptions.Shed.
func (m *Metrics) Shed() prometheus.Counter { return m.shed }

// Middleware counts and times each request when it ends.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, _ = withInfo(r)
		rw := &recorder{ResponseWriter: w}
		start := time.Now()
		completed := false
		defer func() {
			status := rw.statusOr(http.StatusOK)
			if !completed && !rw.wroteHeader() {
				status = http.StatusInternalServerError
			}
			route := routeLabel(r)
			m.requests.WithLabelValues(route, statusClass(status)).Inc()
			m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(rw, r)
		completed = true
	})
}

// statusClass maps a status to "1xx" … "5xx".
func statusClass(code int) string {
	switch {
	case code < 200:
		return "1xx"
	case code < 300:
		return "2xx"
	case code < 400:
		return "3xx"
	case code < 500:
		return "4xx"
	default:
		return "5xx"
	}
}
