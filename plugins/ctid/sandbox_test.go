package ctid

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	ctidsim "github.com/shiming-id/shiming/contrib/sandbox/ctid"
	"github.com/shiming-id/shiming/contrib/sandbox/fault"
	"github.com/shiming-id/shiming/contrib/sandbox/sandboxtest"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/providertest"
)

// TestMain serves the provider on the test's clock when the kit re-runs
// this test binary as the plugin process.
func TestMain(m *testing.M) {
	sandboxtest.Main(m, "ctid", func(now func() time.Time) sdk.Provider { return newProvider(sdk.Logger(), now) })
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// vendor is the sandbox, with two CTID organisations, acting as the CTID
// platform and, as its embedded Phone, as the person's phone with the
// CTID app.
type vendor struct {
	*sandboxtest.Server
	*sandboxtest.Phone
	t         testing.TB
	orgs      []ctidsim.Org
	handleKey string
	people    providertest.People
}

func newVendor(t testing.TB) *vendor {
	t.Helper()
	srv := sandboxtest.Start(t)
	// c035's card reads 刘䶮; the registry holds 刘岩: 二要素 fails. c033's
	// liveness check fails.
	v := &vendor{Server: srv, t: t, orgs: srv.Apps.CTID, handleKey: sandboxtest.HandleKey(t),
		people: srv.People("c001", "c035", "c033")}
	v.Phone = srv.Phone(v.people)
	return v
}

// config is a valid configuration for organisation i.
func (v *vendor) config(i int) json.RawMessage {
	return v.configWith(i, nil)
}

func (v *vendor) configWith(i int, change func(map[string]string)) json.RawMessage {
	m := map[string]string{
		"org_code":            v.orgs[i].OrgCode,
		"org_private_key":     v.orgs[i].OrgPrivateKeyPEM,
		"platform_public_key": v.Sandbox.CTIDPlatformPublicKeyPEM(),
		"base_url":            v.URL + "/ctid.sandbox",
		"handle_key":          v.handleKey,
		"http_timeout":        "10s",
	}
	if change != nil {
		change(m)
	}
	b, _ := json.Marshal(m)
	return b
}

// provider returns an in-process provider on the test clock, configured
// for organisation i.
func (v *vendor) provider(i int) *Provider {
	v.t.Helper()
	p := newProvider(quiet(), v.Clock.Now)
	if err := p.Configure(context.Background(), v.config(i)); err != nil {
		v.t.Fatal(err)
	}
	return p
}

// inject makes the next CTID answer on path carry code.
func (v *vendor) inject(path, code string) {
	v.Sandbox.Faults().Add(fault.Rule{Vendor: "ctid", Path: path, Code: code, Count: 1})
}

// TestConformance runs the kit over the sandbox, in this process and over
// a real plugin process (this test binary re-run as the plugin).
func TestConformance(t *testing.T) {
	v := newVendor(t)
	providertest.Run(t, providertest.Harness{
		New:         func() sdk.Provider { return newProvider(quiet(), v.Clock.Now) },
		Command:     v.Command("ctid"),
		Config:      v.config(0),
		OtherConfig: v.config(1),
		BadConfig:   json.RawMessage(`{"org_code":"","org_private_key":"nope","base_url":"ftp://x","handle_key":"c2hvcnQ=","http_timeout":"forever"}`),
		BadFields:   []string{"org_code", "org_private_key", "platform_public_key", "base_url", "handle_key", "http_timeout"},
		Phone:       v,
		People:      v.people,
		Slow:        v.Slow("ctid"),
	})
}

var _ providertest.Phone = (*vendor)(nil)
