package httpserver

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"log/slog"
	"net/http"
)

// idEncoding is Crockford's base32 alphabet (no I, L, O or U), so an id
// read aloud over the phone or copied by hand survives.
var idEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// ErrorIDLen is the length of the error id shown to candidates: the
// first characters of the request id, so the id on a page leads to the
// request's log lines.
const ErrorIDLen = 8

// requestInfo travels in a request's context. It is a pointer, so the
// router can record the matched pattern for middleware that wrapped the
// request before routing, even when handlers copy the request.
type requestInfo struct {
	id      string
	logger  *slog.Logger
	pattern string
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

// withInfo returns r with a requestInfo in its context, adding one if
// no outer middleware did.
func withInfo(r *http.Request) (*http.Request, *requestInfo) {
	if info := infoFrom(r.Context()); info != nil {
		return r, info
	}
	info := &requestInfo{}
	return r.WithContext(context.WithValue(r.Context(), infoKey{}, info)), info
}

// newID returns 24 characters of Crockford base32 (120 random bits).
func newID() string {
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on supported platforms.
		panic("httpserver: crypto/rand: " + err.Error())
	}
	return idEncoding.EncodeToString(b)
}

// RequestID returns middleware that gives each request a random id, sets
// it as the X-Request-Id response header and keeps it, with logger
// carrying a request_id attribute, in the context. An X-Request-Id sent
// by the client is ignored: it could be used to forge log lines.
func RequestID(logger *slog.Logger) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r, info := withInfo(r)
			info.id = newID()
			info.logger = logger.With(slog.String("request_id", info.id))
			w.Header().Set("X-Request-Id", info.id)
			next.ServeHTTP(w, r)
		})
	}
}

// RequestIDFrom returns the request id in ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

// LoggerFrom returns the request's logger (with its request_id) from
// ctx. Without the RequestID middleware it returns fallback.
func LoggerFrom(ctx context.Context, fallback *slog.Logger) *slog.Logger {
	if info := infoFrom(ctx); info != nil && info.logger != nil {
		return info.logger
	}
	return fallback
}

// ErrorID returns the id to show on an error page for the request: the
// start of its request id, or a fresh id when there is none.
func ErrorID(r *http.Request) string {
	id := RequestIDFrom(r.Context())
	if id == "" {
		id = newID()
	}
	return id[:ErrorIDLen]
}

// Pattern returns the pattern the request was routed to ("GET
// /{portal}/login"), or "" before routing or when nothing matched.
func Pattern(r *http.Request) string {
	if info := infoFrom(r.Context()); info != nil && info.pattern != "" {
		return info.pattern
	}
	return r.Pattern
}

// routeLabel is Pattern for metrics and logs: never the raw path.
func routeLabel(r *http.Request) string {
	if p := Pattern(r); p != "" {
		return p
	}
	return "unmatched"
}
