// Package simenv holds what every simulated vendor in the sandbox is given:
// a logger, a clock, the sandbox's public base URL, its data folder, the
// citizen registry and the fault set.
package simenv

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/fault"
)

// Env is shared by the simulated vendors of one sandbox.
type Env struct {
	Logger *slog.Logger
	Now    func() time.Time
	// PublicURL is the sandbox's base URL as clients reach it, without a
	// trailing slash, e.g. http://127.0.0.1:8081.
	PublicURL string
	// DataDir is where keys are kept (files mode 0600).
	DataDir  string
	Citizens *citizens.Registry
	Faults   *fault.Set
}

// URL returns the public URL of a path on a simulated vendor host:
// URL("api.weixin.qq.com", "/sns/userinfo") is
// PublicURL + "/api.weixin.qq.com/sns/userinfo".
func (e Env) URL(host, path string) string {
	return e.PublicURL + "/" + host + "/" + strings.TrimPrefix(path, "/")
}

// Inject applies a matching fault rule to a request of vendor at path (the
// path after the host prefix). It sleeps for the rule's latency (or until
// the request is cancelled), then answers HTTP 500 or an unparsable body
// itself. It returns the rule's vendor code, if any, for the vendor to
// render in its own error format, and handled=true when the response has
// already been written.
func (e Env) Inject(w http.ResponseWriter, r *http.Request, vendor, path string) (code string, handled bool) {
	if e.Faults == nil {
		return "", false
	}
	rule, ok := e.Faults.Take(vendor, path)
	if !ok {
		return "", false
	}
	if rule.Latency > 0 && !sleep(r.Context(), rule.Latency) {
		return "", true
	}
	switch rule.Code {
	case fault.HTTP500:
		http.Error(w, "500 Internal Server Error (sandbox fault)", http.StatusInternalServerError)
		return "", true
	case fault.Garbage:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write([]byte("<html>\x00\x7f{{not json"))
		return "", true
	}
	return rule.Code, false
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
