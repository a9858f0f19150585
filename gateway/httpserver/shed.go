package httpserver

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ShedRoute is the route label of a request refused by Shed: it was
// never routed.
const ShedRoute = "shed"

// ShedOptions configure Shed.
type ShedOptions struct {
	// MaxInFlight is the most requests served at once; must be positive.
	MaxInFlight int
	// RetryAfter is sent with a refusal; default 5 seconds.
	RetryAfter time.Duration
	// Shed counts the refused requests; nil counts nothing.
	Shed prometheus.Counter
}

// Shed returns middleware that serves at most MaxInFlight requests at
// once and answers every request beyond that at once with the 503 page
// (系统繁忙) and Retry-After, instead of queueing it behind the others.
// On a peak day a replica over its capacity then fails fast and
// visibly: the load balancer and the candidate's browser retry (the QR
// page's poll simply tries again), and the requests in flight keep their
// latency. Place it inside RequestID, the metrics, the access log and
// SecurityHeaders, so that a refusal has an error id, is counted and
// logged, and carries the security headers.
func Shed(o ShedOptions) Middleware {
	if o.MaxInFlight <= 0 {
		panic("httpserver: Shed needs a positive MaxInFlight")
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = 5 * time.Second
	}
	retryAfter := strconv.Itoa(int((o.RetryAfter + time.Second - 1) / time.Second))
	slots := make(chan struct{}, o.MaxInFlight)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
				next.ServeHTTP(w, r)
			default:
				r, info := withInfo(r)
				info.pattern = ShedRoute
				if o.Shed != nil {
					o.Shed.Inc()
				}
				w.Header().Set("Retry-After", retryAfter)
				// No log line of its own: under overload that would be a
				// flood; the access log and the counter have each refusal.
				renderError(w, r, http.StatusServiceUnavailable, "", ErrorID(r))
			}
		})
	}
}
