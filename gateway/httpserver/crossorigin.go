package httpserver

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// CrossOriginOptions configure CrossOrigin.
type CrossOriginOptions struct {
	// TrustedOrigins may send state-changing requests from another
	// origin ("https://portal.example.gov.cn", scheme://host[:port]).
	TrustedOrigins []string
	// InsecureBypassPatterns are ServeMux patterns whose requests are not
	// checked at all, for endpoints that must accept cross-site browser
	// POSTs (an OIDC response_mode=form_post callback). Each one needs its
	// own defence, such as a single-use state bound to the session.
	InsecureBypassPatterns []string
	// Rejections counts refused requests; nil counts nothing.
	Rejections prometheus.Counter
	// Logger records refusals; the request's logger is used when the
	// RequestID middleware ran.
	Logger *slog.Logger
}

// CrossOrigin returns middleware that refuses cross-origin unsafe
// requests (POST, PUT, PATCH, DELETE, …) with the standard library's
// http.CrossOriginProtection, which reads Sec-Fetch-Site and falls back
// to comparing Origin with Host. A refusal gets a 403 page in Chinese,
// a log line and a count. Safe methods always pass, so handlers must not
// change state on GET.
func CrossOrigin(o CrossOriginOptions) (Middleware, error) {
	cop := http.NewCrossOriginProtection()
	for _, origin := range o.TrustedOrigins {
		if err := cop.AddTrustedOrigin(origin); err != nil {
			return nil, fmt.Errorf("httpserver: trusted origin: %w", err)
		}
	}
	for _, p := range o.InsecureBypassPatterns {
		if err := addBypass(cop, p); err != nil {
			return nil, err
		}
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.Rejections != nil {
			o.Rejections.Inc()
		}
		LoggerFrom(r.Context(), logger).WarnContext(r.Context(), "cross-origin request refused",
			slog.String("method", r.Method),
			slog.String("sec_fetch_site", r.Header.Get("Sec-Fetch-Site")),
			slog.String("origin", r.Header.Get("Origin")),
		)
		renderError(w, r, http.StatusForbidden, CrossOriginMessage, ErrorID(r))
	}))
	return cop.Handler, nil
}

// addBypass turns AddInsecureBypassPattern's panic on a bad pattern into
// an error.
func addBypass(cop *http.CrossOriginProtection, pattern string) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("httpserver: bypass pattern %q: %v", pattern, v)
		}
	}()
	cop.AddInsecureBypassPattern(pattern)
	return nil
}
