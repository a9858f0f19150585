package flowpage

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
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

// fullDeps has every required dependency set (never called here).
func fullDeps() Deps {
	return Deps{Sessions: &session.Manager{}, Flows: &flow.Engine{}, Accounts: &account.Service{}, Limiter: &ratelimit.Limiter{},
		Audit: &audit.Log{}, Scan: &scan.Machine{}, SMS: &smscode.Sender{}, Pages: &web.Renderer{}, Metrics: &metrics.Journeys{}}
}

func TestDepsInitMissing(t *testing.T) {
	tests := []struct {
		name  string
		unset func(*Deps)
	}{
		{"sessions", func(d *Deps) { d.Sessions = nil }},
		{"flows", func(d *Deps) { d.Flows = nil }},
		{"accounts", func(d *Deps) { d.Accounts = nil }},
		{"limiter", func(d *Deps) { d.Limiter = nil }},
		{"audit", func(d *Deps) { d.Audit = nil }},
		{"scan", func(d *Deps) { d.Scan = nil }},
		{"sms", func(d *Deps) { d.SMS = nil }},
		{"pages", func(d *Deps) { d.Pages = nil }},
		{"metrics", func(d *Deps) { d.Metrics = nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := fullDeps()
			tc.unset(&d)
			if err := d.Init(); !errors.Is(err, ErrMissingDependency) {
				t.Fatalf("Init = %v, want ErrMissingDependency", err)
			}
		})
	}
}

func TestDepsInitDefaults(t *testing.T) {
	d := fullDeps()
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	if d.Now == nil || d.Logger == nil || d.ClientIP == nil || d.Desktop == nil {
		t.Fatal("Init left a default unset")
	}
	if d.FlowTTL != DefaultFlowTTL {
		t.Errorf("FlowTTL = %v, want %v", d.FlowTTL, DefaultFlowTTL)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "192.0.2.7:4711"
	if ip := d.ClientIP(r); ip != "192.0.2.7" {
		t.Errorf("ClientIP = %q, want the host of RemoteAddr", ip)
	}
	called := false
	page := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true })
	d.Desktop(config.Portal{ID: "p"}, page).ServeHTTP(httptest.NewRecorder(), r)
	if !called {
		t.Error("the default Desktop does not serve the page")
	}

	kept := fullDeps()
	kept.FlowTTL = 5 * time.Minute
	kept.ClientIP = func(*http.Request) string { return "proxy-aware" }
	if err := kept.Init(); err != nil {
		t.Fatal(err)
	}
	if kept.FlowTTL != 5*time.Minute || kept.ClientIP(r) != "proxy-aware" {
		t.Errorf("Init replaced set values: FlowTTL %v, ClientIP %q", kept.FlowTTL, kept.ClientIP(r))
	}
}

func TestDepsPortal(t *testing.T) {
	d := Deps{Portals: []config.Portal{{ID: "hunanpea", Name: "湖南省人事考试网"}, {ID: "jxpta", Name: "江西人事考试网"}}}
	tests := []struct {
		name, id string
		want     config.Portal
	}{
		{"configured", "jxpta", config.Portal{ID: "jxpta", Name: "江西人事考试网"}},
		{"gone from the configuration", "old", config.Portal{ID: "old"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := d.Portal(tc.id); got != tc.want {
				t.Errorf("Portal(%q) = %+v, want %+v", tc.id, got, tc.want)
			}
		})
	}
}
