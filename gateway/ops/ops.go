// Package ops is the handler of the private ops listener: /metrics from
// an injected Prometheus gatherer, /healthz (the process answers) and
// /readyz (named dependency checks, each under its own deadline).
package ops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultCheckTimeout bounds a check that sets no Timeout of its own.
const DefaultCheckTimeout = 2 * time.Second

// Check is one readiness check, such as the database's Ping or a
// plugin's health.
type Check struct {
	// Name identifies the check in /readyz output and logs: "database",
	// "plugin:wechat".
	Name string
	// Timeout bounds one run; default DefaultCheckTimeout.
	Timeout time.Duration
	// Func reports nil when the dependency is ready. It must return when
	// ctx is done.
	Func func(ctx context.Context) error
}

// Options configure New.
type Options struct {
	// Gatherer is what /metrics exposes; required.
	Gatherer prometheus.Gatherer
	// Registerer, when set, receives promhttp's own metrics about
	// scrapes (promhttp_metric_handler_*).
	Registerer prometheus.Registerer
	// Checks are the readiness checks known at construction.
	Checks []Check
	// Logger records failed checks and gathering errors; default discards.
	Logger *slog.Logger
}

// Handler serves the ops endpoints. It is safe for concurrent use;
// checks may be added while it serves.
type Handler struct {
	mux      *http.ServeMux
	logger   *slog.Logger
	mu       sync.RWMutex
	checks   []Check
	draining atomic.Bool
}

// New returns the ops handler.
func New(o Options) (*Handler, error) {
	if o.Gatherer == nil {
		return nil, errors.New("ops: a gatherer is required")
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{mux: http.NewServeMux(), logger: logger}
	for _, c := range o.Checks {
		if err := h.AddCheck(c); err != nil {
			return nil, err
		}
	}

	var metrics http.Handler = promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{
		ErrorLog: promLogger{logger},
		// A collector that fails must not blank the whole scrape: serve
		// what was gathered and let promhttp_metric_handler_errors_total
		// tell.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      o.Registerer,
		// Prometheus negotiates OpenMetrics when it prefers it; curl and
		// promtool get the classic text format.
		EnableOpenMetrics: true,
		Timeout:           10 * time.Second,
	})
	if o.Registerer != nil {
		metrics = promhttp.InstrumentMetricHandler(o.Registerer, metrics)
	}
	h.mux.Handle("GET /metrics", metrics)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintln(w, "ok")
	})
	h.mux.HandleFunc("GET /readyz", h.serveReady)
	return h, nil
}

// AddCheck adds a readiness check; names must be unique.
func (h *Handler) AddCheck(c Check) error {
	if c.Name == "" || c.Func == nil {
		return errors.New("ops: a check needs a name and a func")
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultCheckTimeout
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, have := range h.checks {
		if have.Name == c.Name {
			return fmt.Errorf("ops: check %q added twice", c.Name)
		}
	}
	h.checks = append(h.checks, c)
	slices.SortFunc(h.checks, func(a, b Check) int { return cmp.Compare(a.Name, b.Name) })
	return nil
}

// Drain makes /readyz fail from now on, so load balancers stop sending
// traffic before the server shuts down.
func (h *Handler) Drain() { h.draining.Store(true) }

// ServeHTTP serves /metrics, /healthz and /readyz.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Result is the outcome of one check.
type Result struct {
	Name string
	Err  error // nil when ready
}

// Ready runs every check concurrently, each under its own deadline, and
// returns the outcomes in name order.
func (h *Handler) Ready(ctx context.Context) []Result {
	h.mu.RLock()
	checks := slices.Clone(h.checks)
	h.mu.RUnlock()

	results := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			results[i] = Result{Name: c.Name, Err: run(ctx, c)}
		})
	}
	wg.Wait()
	return results
}

// run runs one check under its deadline. A check that ignores its
// context is abandoned at the deadline rather than waited for.
func run(ctx context.Context, c Check) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Errorf("panic: %v", v)
			}
		}()
		done <- c.Func(ctx)
	}()
	select {
	case err := <-done:
		if err == nil && ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serveReady answers 200 with one "ok <name>" line per check when all
// pass, and 503 with "fail <name>: timeout|error" lines otherwise. Error
// details go to the log, not the response.
func (h *Handler) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if h.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "fail draining")
		return
	}
	results := h.Ready(r.Context())
	var b strings.Builder
	failed := false
	for _, res := range results {
		if res.Err == nil {
			fmt.Fprintf(&b, "ok %s\n", res.Name)
			continue
		}
		failed = true
		reason := "error"
		if errors.Is(res.Err, context.DeadlineExceeded) {
			reason = "timeout"
		}
		fmt.Fprintf(&b, "fail %s: %s\n", res.Name, reason)
		h.logger.WarnContext(r.Context(), "readiness check failed", slog.String("check", res.Name), slog.Any("error", res.Err))
	}
	if failed {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	if len(results) == 0 {
		b.WriteString("ok\n")
	}
	_, _ = w.Write([]byte(b.String()))
}

// NewRegistry returns a registry with the Go runtime and process
// collectors registered, for the composition root to pass everywhere as
// the Registerer and here as the Gatherer.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// promLogger adapts slog to promhttp.Logger.
type promLogger struct{ l *slog.Logger }

func (p promLogger) Println(v ...any) {
	p.l.Error("metrics gathering failed", slog.String("error", strings.TrimSpace(fmt.Sprintln(v...))))
}

var _ http.Handler = (*Handler)(nil)

// WatchReadiness runs the readiness checks every interval until ctx ends
// and publishes the outcome as the gauge shiming_ready (1 when every
// check passes), so that alerts see readiness even when nothing polls
// /readyz.
func (h *Handler) WatchReadiness(ctx context.Context, reg prometheus.Registerer, interval time.Duration) error {
	ready := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "shiming_ready",
		Help: "1 when every readiness check of /readyz passes, 0 otherwise.",
	})
	if err := reg.Register(ready); err != nil {
		return fmt.Errorf("ops: register shiming_ready: %w", err)
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			ok := 1.0
			for _, r := range h.Ready(ctx) {
				if r.Err != nil {
					ok = 0
				}
			}
			ready.Set(ok)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}
