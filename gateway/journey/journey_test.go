package journey_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shiming-id/shiming/gateway/config"
	"github.com/shiming-id/shiming/gateway/journey"
	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
)

func TestMetricsExistAtZero(t *testing.T) {
	h := jt.New(t, jt.Options{})
	reg := h.Registry
	const desktop = `
# HELP shiming_desktop_only_rejections_total Portal pages answered with the desktop-only notice because a phone or tablet asked, by portal.
# TYPE shiming_desktop_only_rejections_total counter
shiming_desktop_only_rejections_total{portal="hunanpea"} 0
shiming_desktop_only_rejections_total{portal="hxw"} 0
shiming_desktop_only_rejections_total{portal="zwfw"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(desktop), "shiming_desktop_only_rejections_total"); err != nil {
		t.Fatal(err)
	}
	// 3 portals; providers wechat, alipay, ctid, sms; every sdk kind.
	counts := map[string]int{
		"shiming_realname_flows_total":       3 * 4 * 5, // scan providers and oidc × outcomes
		"shiming_realname_errors_total":      3 * 4 * 14,
		"shiming_realname_recoveries_total":  3 * 4 * 14,
		"shiming_logins_total":               3 * 4 * 6,
		"shiming_phone_changes_total":        3 * 6,
		"shiming_phone_change_notices_total": 3, // sent, failed, unsupported
	}
	for name, want := range counts {
		if got, err := testutil.GatherAndCount(reg, name); err != nil || got != want {
			t.Errorf("%s: %d series, want %d (%v)", name, got, want, err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				t.Errorf("%s %v = %v at start", mf.GetName(), m.GetLabel(), v)
			}
		}
	}
	for _, kind := range []string{"code_reused", "uuid_invalid", "name_id_mismatch", "face_mismatch", "liveness_failed", "expired",
		"cancelled", "vendor_unavailable", "rate_limited", "code_invalid", "internal"} {
		h.Counter("shiming_realname_errors_total", "portal", "zwfw", "provider", "alipay", "kind", kind)
		h.Counter("shiming_realname_recoveries_total", "portal", "zwfw", "provider", "alipay", "kind", kind)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint %s: %s", p.Metric, p.Text)
	}
}

func TestOIDCRefusalSeries(t *testing.T) {
	h := jt.New(t, jt.Options{OIDC: func(string) []config.Issuer {
		return []config.Issuer{{ID: "gov", IssuerURL: "http://127.0.0.1:1/unreachable", ClientID: "c"}}
	}})
	if got, err := testutil.GatherAndCount(h.Registry, "shiming_oidc_refusals_total"); err != nil || got != 5 {
		t.Fatalf("%d refusal series (%v)", got, err)
	}
}

func TestRoutes(t *testing.T) {
	h := jt.New(t, jt.Options{})
	var patterns []string
	for _, r := range h.Router.Routes() {
		patterns = append(patterns, r.Pattern)
		if r.StateChanging() && r.Method != http.MethodPost {
			t.Errorf("%s changes state without POST", r.Pattern)
		}
	}
	for _, want := range []string{
		"GET /{$}", "GET /hunanpea/{$}", "GET /hunanpea/home", "POST /hunanpea/logout",
		"GET /hunanpea/realname/{$}", "POST /hunanpea/realname/start", "GET /hunanpea/realname/{flow}/qr",
		"GET /hunanpea/realname/{flow}/status", "GET /hunanpea/realname/{flow}/qr.png", "POST /hunanpea/realname/{flow}/ctid",
		"GET /hunanpea/login", "POST /hunanpea/login/password", "POST /hunanpea/login/sms", "POST /hunanpea/login/scan",
		"GET /hunanpea/forgot", "POST /hunanpea/forgot/{flow}/confirm", "GET /callback/{provider}", "GET /static/qr.js",
	} {
		if !slices.Contains(patterns, want) {
			t.Errorf("no route %q", want)
		}
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := journey.New(journey.Deps{Portals: []config.Portal{{ID: "callback"}, {ID: "Bad Portal"}}})
	if err == nil {
		t.Fatal("New accepted empty deps")
	}
	for _, want := range []string{"Sessions is required", "Providers is required", "RealName.SMS is required",
		`portal id "callback"`, `portal id "Bad Portal"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestRateLimitNames(t *testing.T) {
	names := journey.RateLimitNames()
	for _, want := range []string{"sms_phone", "sms_id", "sms_ip", "sms_day", "sms_resend", "flow_start_ip"} {
		if !slices.Contains(names, want) {
			t.Errorf("RateLimitNames lacks %s", want)
		}
	}
}

func TestFlowStartsAreLimited(t *testing.T) {
	limits := config.Default().Limits
	limits.QRStartsPerIPPerMinute = 2
	h := jt.New(t, jt.Options{Limits: &limits})
	b := h.Browser()
	for i := range 3 {
		p := b.Post("/hunanpea/realname/start", nil)
		if want := i < 2; (p.Status == http.StatusOK) != want {
			t.Fatalf("start %d: %d", i, p.Status)
		}
		if i == 2 && (p.Status != http.StatusTooManyRequests || p.Header.Get("Retry-After") == "") {
			t.Fatalf("third start: %d", p.Status)
		}
	}
	if got := h.Counter("shiming_rate_limited_total", "limit", "flow_start_ip"); got != 1 {
		t.Fatalf("flow_start_ip limited %v", got)
	}
}
