package security_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/sandboxclient"
	"github.com/shiming-id/shiming/gateway/e2e/harness"
	jt "github.com/shiming-id/shiming/gateway/journey/journeytest"
)

// callTimeout is the plugin call deadline the fault tests configure for
// the WeChat and CTID providers (the default is 10 s), so that a hang is
// cut short sooner, with room for a machine busy running other tests.
const callTimeout = 5 * time.Second

// faultConfig is the embedded default with shorter call deadlines.
var faultConfig = fmt.Sprintf(`# The embedded default, with shorter plugin call deadlines.
sandbox:
  enabled: true
providers:
  - {name: wechat, builtin: wechat, call_timeout: %[1]s}
  - {name: alipay, builtin: alipay}
  - {name: ctid, builtin: ctid, call_timeout: %[1]s}
  - {name: sms, builtin: sms}
`, callTimeout)

// faultRig is one server for the fault tests and a way to read its
// counters.
type faultRig struct {
	t   *testing.T
	ctx context.Context
	srv *harness.Server
	sb  *sandboxclient.Client
}

func (r *faultRig) metric(name string, labels ...string) float64 {
	r.t.Helper()
	m, err := r.srv.Metrics(r.ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	v, ok := m.Sum(name, labels...)
	if !ok {
		r.t.Fatalf("no series %s %v", name, labels)
	}
	return v
}

// fault injects f until the test ends or clears it.
func (r *faultRig) fault(t *testing.T, f sandboxclient.Fault) {
	t.Helper()
	if err := r.sb.AddFault(r.ctx, f); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.sb.ClearFaults(context.Background(), f.Vendor) })
}

func (r *faultRig) clear(t *testing.T, vendor string) {
	t.Helper()
	if err := r.sb.ClearFaults(r.ctx, vendor); err != nil {
		t.Fatal(err)
	}
}

// toQR takes a new candidate from 获取实名认证 to the QR page of provider.
func (r *faultRig) toQR(t *testing.T, provider string) (*harness.Candidate, *jt.Page) {
	t.Helper()
	c := r.srv.Candidate(t)
	c.Expect(c.Get("/hunanpea/realname/"), "realname_intro")
	choose := c.Expect(c.Post("/hunanpea/realname/start", nil), "realname_choose")
	return c, c.Expect(c.Post(choose.Path(), url.Values{"provider": {provider}}), "qr")
}

// toIdentity takes who from 获取实名认证 through a WeChat scan to 实名登录.
func (r *faultRig) toIdentity(t *testing.T, who sandboxclient.Citizen) (*harness.Candidate, string) {
	t.Helper()
	c, qr := r.toQR(t, "wechat")
	c.Expect(c.Scan(r.ctx, qr, "wechat", who), "realname_identity")
	return c, jt.FlowBase(qr)
}

// waitReady waits until the ops listener says every plugin is serving.
func (r *faultRig) waitReady(t *testing.T) {
	t.Helper()
	for {
		req, _ := http.NewRequestWithContext(r.ctx, http.MethodGet, r.srv.OpsURL+"/readyz", nil)
		if resp, err := r.srv.HTTP.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-r.ctx.Done():
			t.Fatalf("not ready again: %v", r.ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// calm checks a page explains a fault calmly: its kind, its sentence, and
// none of the advice candidates must not get.
func calm(t *testing.T, p *jt.Page, kind, sentence string) {
	t.Helper()
	if !p.HasErrorKind(kind) || !p.Contains(sentence) {
		t.Fatalf("page %q (step %q) kinds %v, want %s with %q", p.Name(), p.Step(), p.ErrorKinds(), kind, sentence)
	}
	text := strings.ToLower(pageText(p))
	for _, bad := range []string{"重启", "清除缓存", "error", "panic", "rpc", "deadline", "pluginhost", "500"} {
		if strings.Contains(text, bad) {
			t.Fatalf("the page tells the candidate %q", bad)
		}
	}
}

var tagRE = regexp.MustCompile(`<[^>]*>`)

// pageText is the text a candidate reads in the page's main content.
func pageText(p *jt.Page) string {
	s := p.Body
	if i := strings.Index(s, "<main"); i >= 0 {
		s = s[i:]
	}
	if i := strings.Index(s, "</main>"); i >= 0 {
		s = s[:i]
	}
	return tagRE.ReplaceAllString(s, " ")
}

// TestVendorAndPluginFaults injects faults into the real binary's vendors
// (through the sandbox's fault API) and its plugin processes (signals),
// and checks that the candidate reads a calm, specific message with a way
// to retry, that the retry continues the same flow with nothing typed
// lost, and that each fault is counted.
func TestVendorAndPluginFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary")
	}
	cfg := filepath.Join(t.TempDir(), "shiming.yaml")
	if err := os.WriteFile(cfg, []byte(faultConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := harness.Start(t, shiming.Path(t), harness.Options{Args: []string{"--config", cfg}})
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	r := &faultRig{t: t, ctx: ctx, srv: srv, sb: srv.Sandbox()}
	const busy = "微信服务暂时繁忙，请稍后重试。"

	for i, tc := range []struct {
		name  string
		fault sandboxclient.Fault
	}{
		{"vendor answers HTTP 500", sandboxclient.Fault{Vendor: "wechat", Path: "/connect/qrconnect", Code: "http_500"}},
		{"vendor answers garbage", sandboxclient.Fault{Vendor: "wechat", Path: "/connect/qrconnect", Code: "garbage"}},
		{"vendor answers after the call timeout", sandboxclient.Fault{Vendor: "wechat", Path: "/connect/qrconnect", LatencyMS: int(2 * callTimeout / time.Millisecond)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			who := citizen(t, ctx, srv, []string{"c008", "c009", "c010"}[i])
			before := r.metric("shiming_realname_errors_total", "provider", "wechat", "kind", "vendor_unavailable")
			r.fault(t, tc.fault)
			c, qr := r.toQR(t, "wechat")
			calm(t, qr, "vendor_unavailable", busy)
			if qr.QR() != "" || !qr.Contains(`data-action="retry"`) {
				t.Fatalf("no retry button, or a QR code without a session (%q)", qr.QR())
			}
			if got := r.metric("shiming_realname_errors_total", "provider", "wechat", "kind", "vendor_unavailable"); got != before+1 {
				t.Fatalf("vendor_unavailable counted %v → %v", before, got)
			}
			r.clear(t, "wechat")
			fresh := c.Expect(c.Post(qr.Path(), url.Values{"action": {"retry"}}), "qr")
			if fresh.QR() == "" || fresh.FlowID() != qr.FlowID() {
				t.Fatalf("the retry did not continue the flow with a QR code (flow %s → %s)", qr.FlowID(), fresh.FlowID())
			}
			c.Expect(c.Scan(ctx, fresh, "wechat", who), "realname_identity")
		})
	}

	t.Run("vendor answers slowly within the call timeout", func(t *testing.T) {
		r.fault(t, sandboxclient.Fault{Vendor: "wechat", Path: "/connect/qrconnect", LatencyMS: 1500, Count: 1})
		_, qr := r.toQR(t, "wechat")
		if qr.QR() == "" || len(qr.ErrorKinds()) != 0 {
			t.Fatalf("a slow answer within the deadline failed: kinds %v", qr.ErrorKinds())
		}
	})

	t.Run("WeChat rate limit 45011", func(t *testing.T) {
		who := citizen(t, ctx, srv, "c011")
		before := r.metric("shiming_realname_errors_total", "provider", "wechat", "kind", "rate_limited")
		c, qr := r.toQR(t, "wechat")
		r.fault(t, sandboxclient.Fault{Vendor: "wechat", Path: "/sns/oauth2/access_token", Code: "45011", Count: 1})
		for _, action := range []string{"scan", "confirm"} {
			if _, err := r.sb.Act(ctx, qr.QR(), action, who.Key); err != nil {
				t.Fatal(err)
			}
		}
		var p *jt.Page
		for p = qr; p.Attr("phase") != "failed"; {
			select {
			case <-ctx.Done():
				t.Fatalf("the exchange never failed: phase %q kinds %v", p.Attr("phase"), p.ErrorKinds())
			case <-time.After(500 * time.Millisecond):
			}
			p = c.Expect(c.Post(qr.Path(), url.Values{"action": {"check"}}), "qr")
		}
		calm(t, p, "rate_limited", "微信服务当前访问人数较多，请稍后重试。")
		if !p.Contains(`data-action="retry"`) {
			t.Fatal("no retry button")
		}
		if got := r.metric("shiming_realname_errors_total", "provider", "wechat", "kind", "rate_limited"); got != before+1 {
			t.Fatalf("rate_limited counted %v → %v", before, got)
		}
		fresh := c.Expect(c.Post(qr.Path(), url.Values{"action": {"retry"}}), "qr")
		if fresh.QR() == "" || fresh.QR() == qr.QR() || fresh.FlowID() != qr.FlowID() {
			t.Fatal("the retry did not give a fresh QR code in the same flow")
		}
		c.Expect(c.Scan(ctx, fresh, "wechat", who), "realname_identity")
	})

	identity := func(c *harness.Candidate, base string, who sandboxclient.Citizen) *jt.Page {
		return c.Post(base+"identity", url.Values{"name": {who.Name}, "id_number": {who.IDNumber}})
	}
	// kept checks that the identity form still holds what was typed.
	kept := func(t *testing.T, p *jt.Page, who sandboxclient.Citizen) {
		t.Helper()
		if p.Name() != "realname_identity" || !p.Contains(`value="`+who.Name+`"`) || !p.Contains(`value="`+who.IDNumber+`"`) {
			t.Fatalf("page %q does not keep the typed name and ID number", p.Name())
		}
	}

	t.Run("identity check vendor answers HTTP 500 or garbage", func(t *testing.T) {
		who := citizen(t, ctx, srv, "c012")
		c, base := r.toIdentity(t, who)
		for _, code := range []string{"http_500", "garbage"} {
			before := r.metric("shiming_realname_errors_total", "provider", "ctid", "kind", "vendor_unavailable")
			r.fault(t, sandboxclient.Fault{Vendor: "ctid", Path: "/v1/apply", Code: code})
			p := identity(c, base, who)
			calm(t, p, "vendor_unavailable", "身份核验服务暂时繁忙，请稍后重试。")
			kept(t, p, who)
			if got := r.metric("shiming_realname_errors_total", "provider", "ctid", "kind", "vendor_unavailable"); got != before+1 {
				t.Fatalf("%s: vendor_unavailable counted %v → %v", code, before, got)
			}
			r.clear(t, "ctid")
		}
		c.Expect(identity(c, base, who), "realname_phone")
	})

	t.Run("a plugin that hangs", func(t *testing.T) {
		who := citizen(t, ctx, srv, "c013")
		c, base := r.toIdentity(t, who)
		before := r.metric("shiming_plugin_call_errors_total", "provider", "ctid", "method", "check_identity")
		pid := pluginPID(t, srv, "ctid")
		signal(t, pid, syscall.SIGSTOP)
		p := identity(c, base, who)
		signal(t, pid, syscall.SIGCONT)
		calm(t, p, "vendor_unavailable", "身份核验服务暂时繁忙，请稍后重试。")
		kept(t, p, who)
		if got := r.metric("shiming_plugin_call_errors_total", "provider", "ctid", "method", "check_identity"); got <= before {
			t.Fatalf("the timed-out call was not counted (%v → %v)", before, got)
		}
		for attempt := 0; ; attempt++ {
			r.waitReady(t)
			p = identity(c, base, who)
			if p.Name() == "realname_phone" {
				break
			}
			if attempt == 2 {
				t.Fatalf("the retry after the hang failed three times: kinds %v", p.ErrorKinds())
			}
		}
	})

	t.Run("a plugin killed while a QR code waits", func(t *testing.T) {
		who := citizen(t, ctx, srv, "c014")
		before := r.metric("shiming_plugin_restarts_total", "provider", "wechat")
		c, qr := r.toQR(t, "wechat")
		pid := pluginPID(t, srv, "wechat")
		signal(t, pid, syscall.SIGKILL)
		again := c.Expect(c.Get(qr.Path()), "qr")
		if again.QR() != qr.QR() {
			t.Fatal("the QR code changed when the plugin died")
		}
		next := c.Expect(c.Scan(ctx, again, "wechat", who), "realname_identity")
		if next.FlowID() != qr.FlowID() {
			t.Fatalf("the flow changed: %s → %s", qr.FlowID(), next.FlowID())
		}
		if got := r.metric("shiming_plugin_restarts_total", "provider", "wechat"); got < before+1 {
			t.Fatalf("restarts counted %v → %v", before, got)
		}
		if now := pluginPID(t, srv, "wechat"); now == pid {
			t.Fatal("the plugin was not restarted")
		}
	})
}
