package httpserver

import (
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Router is an http.ServeMux that remembers its routes, records the
// matched pattern for logs and metrics, and answers unmatched requests
// (404, 405) with the Chinese error pages.
type Router struct {
	mux    *http.ServeMux
	mu     sync.Mutex
	routes []Route
}

// NewRouter returns an empty Router.
func NewRouter() *Router {
	return &Router{mux: http.NewServeMux()}
}

// Handle registers h for pattern (http.ServeMux syntax, such as
// "POST /{portal}/login"). Like ServeMux it panics on an invalid or
// conflicting pattern.
func (rt *Router) Handle(pattern string, h http.Handler) {
	rt.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := w.(*unmatchedWriter); ok {
			w = u.ResponseWriter
		}
		if info := infoFrom(r.Context()); info != nil {
			info.pattern = pattern
		}
		h.ServeHTTP(w, r)
	}))
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.routes = append(rt.routes, parseRoute(pattern))
}

// HandleFunc registers f for pattern.
func (rt *Router) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	rt.Handle(pattern, http.HandlerFunc(f))
}

// Routes returns the registered routes, sorted by pattern.
func (rt *Router) Routes() []Route {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := slices.Clone(rt.routes)
	slices.SortFunc(out, func(a, b Route) int { return strings.Compare(a.Pattern, b.Pattern) })
	return out
}

// ServeHTTP routes r.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt.mux.ServeHTTP(&unmatchedWriter{ResponseWriter: w, r: r}, r)
}

// unmatchedWriter is handed to the ServeMux. Registered handlers unwrap
// it at once; only the mux's own responses (not found, method not
// allowed) reach it, and those are replaced by the error pages.
type unmatchedWriter struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
}

func (u *unmatchedWriter) WriteHeader(code int) {
	if code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
		u.replaced = true
		renderError(u.ResponseWriter, u.r, code, "", ErrorID(u.r))
		return
	}
	u.ResponseWriter.WriteHeader(code)
}

func (u *unmatchedWriter) Write(p []byte) (int, error) {
	if u.replaced {
		return len(p), nil
	}
	return u.ResponseWriter.Write(p)
}

// Route is one registered pattern, split into its parts.
type Route struct {
	Pattern string // as registered: "POST /{portal}/login"
	Method  string // "" when the pattern matches every method
	Host    string // "" when the pattern matches every host
	Path    string // "/{portal}/login"
}

// parseRoute splits a ServeMux pattern "[METHOD ][HOST]/[PATH]".
func parseRoute(pattern string) Route {
	rt := Route{Pattern: pattern}
	rest := pattern
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		rt.Method = pattern[:i]
		rest = strings.TrimLeft(pattern[i+1:], " \t")
	}
	if i := strings.Index(rest, "/"); i >= 0 {
		rt.Host, rt.Path = rest[:i], rest[i:]
	}
	return rt
}

// StateChanging reports whether the route accepts an unsafe method
// (anything but GET, HEAD and OPTIONS), which cross-origin protection
// must cover. A pattern without a method accepts every method.
func (r Route) StateChanging() bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// SampleMethod is the method a test uses to reach the route: its own,
// or POST for a pattern that matches every method.
func (r Route) SampleMethod() string {
	if r.Method == "" {
		return http.MethodPost
	}
	return r.Method
}

// SamplePath is a concrete path the route matches: each wildcard
// segment becomes "x", and "{$}" is dropped.
func (r Route) SamplePath() string {
	segs := strings.Split(r.Path, "/")
	for i, s := range segs {
		switch {
		case s == "{$}":
			segs[i] = ""
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			segs[i] = "x"
		}
	}
	return strings.Join(segs, "/")
}
