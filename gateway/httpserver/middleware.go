package httpserver

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
)

// Middleware wraps a handler.
type Middleware func(http.Handler) http.Handler

// Chain wraps h in mws; the first is the outermost. The recommended order
// for the public listener is
//
//	Chain(router,
//		RequestID(logger),   // id and logger in the context first
//		metrics.Middleware,  // counts everything, including recovered panics
//		AccessLog(logger),
//		Recover(logger),     // turns panics into the 500 page the two above see
//		SecurityHeaders(sec),
//		Shed(shed),          // 503 beyond limits.max_in_flight, before any work
//		crossOrigin,         // refuses before any handler runs
//	)
func Chain(h http.Handler, mws ...Middleware) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// Recover returns middleware that turns a panic into the 500 page with an
// error id, and logs the panic value and stack under the same id. The
// candidate never sees the panic text. A panic after the response has
// started cannot show a page; the response is then aborted.
func Recover(logger *slog.Logger) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := &recorder{ResponseWriter: w}
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				errorID := ErrorID(r)
				LoggerFrom(r.Context(), logger).ErrorContext(r.Context(), "panic serving request",
					slog.String("error_id", errorID),
					slog.String("method", r.Method),
					slog.String("route", routeLabel(r)),
					slog.String("panic", fmt.Sprint(v)),
					slog.String("stack", string(debug.Stack())),
				)
				if rw.wroteHeader() {
					panic(http.ErrAbortHandler)
				}
				renderError(w, r, http.StatusInternalServerError, "", errorID)
			}()
			next.ServeHTTP(rw, r)
		})
	}
}

// AccessLog returns middleware that logs one line per request: method,
// route pattern, status, bytes, duration and request id. It never logs
// the path's raw values, the query string or form values: codes and ID
// numbers travel there.
func AccessLog(logger *slog.Logger) Middleware {
	return func(next http.Handler) http.Handler {
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
				LoggerFrom(r.Context(), logger).LogAttrs(r.Context(), slog.LevelInfo, "http request",
					slog.String("method", r.Method),
					slog.String("route", routeLabel(r)),
					slog.Int("status", status),
					slog.Int64("bytes", rw.bytes),
					slog.Duration("duration", time.Since(start)),
				)
			}()
			next.ServeHTTP(rw, r)
			completed = true
		})
	}
}

// ContentSecurityPolicy is sent on every response. It allows no inline
// script or style. It has no form-action directive on purpose: some
// flows POST and then redirect to an identity provider, which
// form-action would block in some browsers.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// hstsValue asks browsers to use https for a year, subdomains included
// (ASVS 3.4.1).
const hstsValue = "max-age=31536000; includeSubDomains"

// SecurityOptions configure SecurityHeaders.
type SecurityOptions struct {
	// HSTS sends Strict-Transport-Security. Set it exactly when the
	// public URL is https; over plain http browsers ignore it anyway,
	// and on loopback it would pin a developer's localhost to https.
	HSTS bool
}

// SecurityHeaders returns middleware that sets the security headers on
// every response: the CSP, X-Content-Type-Options, Referrer-Policy,
// X-Frame-Options (for browsers without frame-ancestors), HSTS when
// configured, and Cache-Control: no-store on HTML responses whose
// handler did not choose its own caching.
func SecurityHeaders(o SecurityOptions) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Security-Policy", ContentSecurityPolicy)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("X-Frame-Options", "DENY")
			if o.HSTS {
				h.Set("Strict-Transport-Security", hstsValue)
			}
			rw := &recorder{ResponseWriter: w, beforeHeader: noStoreHTML}
			next.ServeHTTP(rw, r)
		})
	}
}

// noStoreHTML sets Cache-Control: no-store on HTML (or not yet typed)
// responses without a Cache-Control of their own (ASVS 14.3.2).
func noStoreHTML(h http.Header) {
	if h.Get("Cache-Control") != "" {
		return
	}
	ct := h.Get("Content-Type")
	if ct == "" || strings.HasPrefix(ct, "text/html") {
		h.Set("Cache-Control", "no-store")
	}
}
