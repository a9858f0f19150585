package flowpage

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/shiming-id/shiming/gateway/account"
	"github.com/shiming-id/shiming/gateway/audit"
	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/flow"
	"github.com/shiming-id/shiming/gateway/journey/metrics"
	"github.com/shiming-id/shiming/gateway/ratelimit"
	"github.com/shiming-id/shiming/gateway/scan"
	"github.com/shiming-id/shiming/gateway/session"
	"github.com/shiming-id/shiming/gateway/smscode"
	"github.com/shiming-id/shiming/gateway/web"
)

// DefaultFlowTTL is how long a flow lives when Deps.FlowTTL is not set.
const DefaultFlowTTL = 30 * time.Minute

// ErrMissingDependency is returned by Deps.Init when a required
// dependency is nil; the journeys prefix it with their name.
var ErrMissingDependency = errors.New("a dependency is missing")

// Deps are the dependencies every candidate journey (login, realname,
// phonechange) is built with; each journey's Options embeds them next to
// its own.
type Deps struct {
	Portals []config.Portal
	Limits  config.Limits
	// FlowTTL is how long a flow lives; default DefaultFlowTTL.
	FlowTTL  time.Duration
	Sessions *session.Manager
	Flows    *flow.Engine
	Accounts *account.Service
	Limiter  *ratelimit.Limiter
	Audit    *audit.Log
	Scan     *scan.Machine
	SMS      *smscode.Sender
	Pages    *web.Renderer
	Metrics  *metrics.Journeys
	// Desktop wraps the portal's GET pages (portal.Portals.DesktopOnly);
	// default: the page as it is.
	Desktop func(config.Portal, http.Handler) http.Handler
	// ClientIP returns the client address of a request; default RemoteIP.
	ClientIP func(*http.Request) string
	// DemoPhoneURL, when set (the sandbox runs in-process), adds to every
	// QR page a link that opens the code in the sandbox's virtual phone.
	DemoPhoneURL string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger defaults to one that discards.
	Logger *slog.Logger
}

// Init reports ErrMissingDependency when a required dependency is nil,
// and fills in the defaults of the optional ones.
func (d *Deps) Init() error {
	if d.Sessions == nil || d.Flows == nil || d.Accounts == nil || d.Limiter == nil || d.Audit == nil ||
		d.Scan == nil || d.SMS == nil || d.Pages == nil || d.Metrics == nil {
		return ErrMissingDependency
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.ClientIP == nil {
		d.ClientIP = RemoteIP
	}
	if d.Desktop == nil {
		d.Desktop = func(_ config.Portal, h http.Handler) http.Handler { return h }
	}
	if d.FlowTTL <= 0 {
		d.FlowTTL = DefaultFlowTTL
	}
	return nil
}

// Starter is the per-address limit on starting a journey.
func (d *Deps) Starter() Starter {
	return Starter{Limiter: d.Limiter, PerMin: d.Limits.QRStartsPerIPPerMinute, ClientIP: d.ClientIP}
}

// Portal is the configured portal with id; a flow that outlived a change
// of the configuration gets one that has only the id.
func (d *Deps) Portal(id string) config.Portal {
	for _, p := range d.Portals {
		if p.ID == id {
			return p
		}
	}
	return config.Portal{ID: id}
}
