package wechat

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/sandboxtest"
	sbwechat "github.com/shiming-id/shiming/contrib/sandbox/wechat"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/providertest"
)

// TestMain serves the provider as a plugin process, as `shiming plugin
// wechat` does (on real time), when the kit re-runs this test binary as
// the plugin.
func TestMain(m *testing.M) {
	sandboxtest.Main(m, "wechat", func(func() time.Time) sdk.Provider { return New() })
}

// TestConformance runs the conformance kit against the sandbox's WeChat,
// in this process and over a real plugin process.
func TestConformance(t *testing.T) {
	v := newVendor(t)
	providertest.Run(t, providertest.Harness{
		New:         func() sdk.Provider { return New(WithLogger(quiet())) },
		Command:     v.Command("wechat"),
		Config:      v.config(v.app),
		OtherConfig: v.config(v.other),
		BadConfig:   json.RawMessage(`{"app_id":"","api_base":"ftp://x","handle_key":"c2hvcnQ=","http_timeout":"soon","apps_id":"typo"}`),
		BadFields:   []string{"app_id", "app_secret", "api_base", "handle_key", "http_timeout", "apps_id"},
		Phone:       v.phone,
		People:      v.people,
		Slow:        v.Slow(sbwechat.Vendor),
		CallbackURL: "http://127.0.0.1:8080/login/wechat/callback",
	})
}

// TestSandboxFaults injects WeChat's failures at the sandbox and checks
// the kinds the gateway sees, end to end.
func TestSandboxFaults(t *testing.T) {
	v := newVendor(t)
	ctx := t.Context()
	p := New(WithLogger(quiet()))
	if err := p.Configure(ctx, v.config(v.app)); err != nil {
		t.Fatal(err)
	}
	begin := func() sdk.ScanSession {
		t.Helper()
		ss, err := p.BeginScan(ctx, sdk.BeginScanRequest{CallbackURL: "http://127.0.0.1:8080/cb", State: "s"})
		if err != nil {
			t.Fatalf("BeginScan: %v", err)
		}
		return ss
	}
	cases := []struct {
		name, path, code string
		call             func() error
		kind             sdk.Kind
		vendorCode       string
	}{
		{"long-poll 45011", "/connect/l/qrconnect", "45011", func() error { _, err := p.PollScan(ctx, begin().UUID); return err }, sdk.RateLimited, "45011"},
		{"long-poll HTTP 500", "/connect/l/qrconnect", "http_500", func() error { _, err := p.PollScan(ctx, begin().UUID); return err }, sdk.VendorUnavailable, "http_500"},
		{"qrconnect garbage", "/connect/qrconnect", "garbage", func() error {
			_, err := p.BeginScan(ctx, sdk.BeginScanRequest{CallbackURL: "http://127.0.0.1:8080/cb"})
			return err
		}, sdk.VendorUnavailable, "http_200"},
		{"code exchange -1", "/sns/oauth2/access_token", "-1", func() error { _, err := p.ExchangeCode(ctx, begin().UUID, "c"); return err }, sdk.VendorUnavailable, "-1"},
		{"code exchange 45011", "/sns/oauth2/access_token", "45011", func() error { _, err := p.ExchangeCode(ctx, begin().UUID, "c"); return err }, sdk.RateLimited, "45011"},
		{"unknown code", "", "", func() error {
			_, err := p.ExchangeCode(ctx, begin().UUID, "0316Ri0w3ce0Y53ZZW0w31oTHr26Ri0X")
			return err
		}, sdk.CodeInvalid, "40029"},
		{"getverifyid 45011", "/cityservice/face/identify/getverifyid", "45011", func() error {
			_, err := p.BeginFace(ctx, sdk.FaceRequest{Name: v.people.Match.Name, IDNumber: v.people.Match.IDNumber, Subject: v.people.Match.Subject})
			return err
		}, sdk.RateLimited, "45011"},
		{"openid of another app", "", "", func() error {
			_, err := p.BeginFace(ctx, sdk.FaceRequest{Name: v.people.Match.Name, IDNumber: v.people.Match.IDNumber, Subject: "oNotIssuedToThisApp000000000"})
			return err
		}, sdk.InvalidRequest, "40003"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.code != "" {
				v.fault(tc.path, tc.code, 1)
			}
			err := tc.call()
			if sdk.KindOf(err) != tc.kind || sdk.VendorCodeOf(err) != tc.vendorCode {
				t.Fatalf("got %v, want kind %v vendor code %s", err, tc.kind, tc.vendorCode)
			}
		})
	}
	t.Run("wrong secret", func(t *testing.T) {
		wrong := map[string]string{}
		_ = json.Unmarshal(v.config(v.app), &wrong)
		wrong["app_secret"] = "wrong"
		raw, _ := json.Marshal(wrong)
		p := New(WithLogger(quiet()))
		if err := p.Configure(ctx, raw); err != nil {
			t.Fatal(err)
		}
		_, err := p.BeginFace(ctx, sdk.FaceRequest{Name: v.people.Match.Name, IDNumber: v.people.Match.IDNumber, Subject: v.people.Match.Subject})
		if sdk.KindOf(err) != sdk.InvalidConfig || sdk.VendorCodeOf(err) != "40001" {
			t.Fatalf("BeginFace with a wrong secret = %v", err)
		}
		ss, err := p.BeginScan(ctx, sdk.BeginScanRequest{CallbackURL: "http://127.0.0.1:8080/cb"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.ExchangeCode(ctx, ss.UUID, "c")
		if sdk.KindOf(err) != sdk.InvalidConfig || sdk.VendorCodeOf(err) != "40125" {
			t.Fatalf("ExchangeCode with a wrong secret = %v", err)
		}
	})
}
