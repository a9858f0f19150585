package alipay

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox"
	alipaysim "github.com/shiming-id/shiming/contrib/sandbox/alipay"
	"github.com/shiming-id/shiming/contrib/sandbox/fault"
	"github.com/shiming-id/shiming/contrib/sandbox/sandboxtest"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/providertest"
)

// TestMain serves the provider on the test's clock when the kit re-runs
// this test binary as the plugin process.
func TestMain(m *testing.M) {
	sandboxtest.Main(m, "alipay", func(now func() time.Time) sdk.Provider { return newProvider(sdk.Logger(), now) })
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// vendor is the sandbox, with two Alipay apps, acting as Alipay and, as
// its embedded Phone, as the person's phone.
type vendor struct {
	*sandboxtest.Server
	*sandboxtest.Phone
	t         testing.TB
	apps      []alipaysim.App
	handleKey string
	people    providertest.People
}

func newVendor(t testing.TB) *vendor {
	t.Helper()
	srv := sandboxtest.Start(t, func(c *sandbox.Config) { c.Apps.Alipay[0].RealNameFields = true })
	v := &vendor{Server: srv, t: t, apps: srv.Apps.Alipay, handleKey: sandboxtest.HandleKey(t),
		people: srv.People("c001", "c035", "c031")}
	v.Phone = srv.Phone(v.people)
	return v
}

// config is a valid configuration for app i.
func (v *vendor) config(i int) json.RawMessage {
	return v.configWith(i, nil)
}

func (v *vendor) configWith(i int, change func(map[string]string)) json.RawMessage {
	m := map[string]string{
		"app_id":            v.apps[i].AppID,
		"app_private_key":   v.apps[i].AppPrivateKeyPEM,
		"alipay_public_key": v.Sandbox.AlipayPublicKeyPEM(),
		"handle_key":        v.handleKey,
		"gateway_url":       v.URL + "/openapi.alipay.com/gateway.do",
		"openauth_base":     v.URL + "/openauth.alipay.com",
		"http_timeout":      "10s",
	}
	if change != nil {
		change(m)
	}
	b, _ := json.Marshal(m)
	return b
}

// provider returns an in-process provider on the test clock, configured
// for app i.
func (v *vendor) provider(i int) *Provider {
	v.t.Helper()
	p := newProvider(quiet(), v.Clock.Now)
	if err := p.Configure(context.Background(), v.config(i)); err != nil {
		v.t.Fatal(err)
	}
	return p
}

// inject makes the next Alipay answer carry code.
func (v *vendor) inject(code string) {
	v.Sandbox.Faults().Add(fault.Rule{Vendor: "alipay", Path: "/gateway.do", Code: code, Count: 1})
}

// TestConformance runs the kit over the sandbox, in this process and over
// a real plugin process (this test binary re-run as the plugin).
func TestConformance(t *testing.T) {
	v := newVendor(t)
	providertest.Run(t, providertest.Harness{
		New:         func() sdk.Provider { return newProvider(quiet(), v.Clock.Now) },
		Command:     v.Command("alipay"),
		Config:      v.config(0),
		OtherConfig: v.config(1),
		BadConfig:   json.RawMessage(`{"app_id":"app","app_private_key":"nope","gateway_url":"ftp://x","handle_key":"c2hvcnQ=","colour":"blue"}`),
		BadFields:   []string{"app_id", "app_private_key", "alipay_public_key", "gateway_url", "handle_key", "colour"},
		Phone:       v,
		People:      v.people,
		Slow:        v.Slow("alipay"),
	})
}

var _ providertest.Phone = (*vendor)(nil)
