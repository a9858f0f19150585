package sms

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox"
	"github.com/shiming-id/shiming/contrib/sandbox/fault"
	"github.com/shiming-id/shiming/contrib/sandbox/sandboxtest"
	sbsms "github.com/shiming-id/shiming/contrib/sandbox/sms"
	"github.com/shiming-id/shiming/plugins/sdk"
	"github.com/shiming-id/shiming/plugins/sdk/providertest"
)

// TestMain serves the provider as a plugin process, as `shiming plugin
// sms` does (on real time), when the kit re-runs this test binary as the
// plugin.
func TestMain(m *testing.M) {
	sandboxtest.Main(m, "sms", func(func() time.Time) sdk.Provider { return New() })
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// vendor is the sandbox's Alibaba Cloud SMS behind an httptest server
// (sandboxtest); its phone only reads the inbox: SMS has no QR.
type vendor struct {
	*sandboxtest.Server
	t      *testing.T
	keys   []sbsms.Key
	people providertest.People
	phone  *sandboxtest.Phone
}

// newVendor starts a sandbox; limits are its SMS flow control.
func newVendor(t *testing.T, limits sbsms.Limits) *vendor {
	t.Helper()
	srv := sandboxtest.Start(t, func(c *sandbox.Config) { c.SMS = sbsms.Options{Limits: limits} })
	v := &vendor{Server: srv, t: t, keys: srv.Apps.SMS, people: srv.People("c001", "c035", "c031")}
	v.phone = srv.Phone(v.people)
	return v
}

// unlimited turns the sandbox's flow control off, for the kit, which
// sends several codes to one phone within a minute.
var unlimited = sbsms.Limits{PerMinute: -1, PerHour: -1, PerDay: -1, NoticePerDay: -1}

// config is a valid configuration for the i-th key, pointing at the
// sandbox.
func (v *vendor) config(i int, handleKey string) json.RawMessage {
	k := v.keys[i]
	b, err := json.Marshal(map[string]string{
		"access_key_id":     k.AccessKeyID,
		"access_key_secret": k.AccessKeySecret,
		"sign_name":         k.SignName,
		"api_base":          v.URL + "/" + sbsms.Host + "/",
		"handle_key":        handleKey,
	})
	if err != nil {
		v.t.Fatal(err)
	}
	return b
}

// TestConformance runs the conformance kit against the sandbox's SMS, in
// this process and over a real plugin process.
func TestConformance(t *testing.T) {
	v := newVendor(t, unlimited)
	key := sandboxtest.HandleKey(t)
	providertest.Run(t, providertest.Harness{
		New:         func() sdk.Provider { return New(WithLogger(quiet())) },
		Command:     v.Command("sms"),
		Config:      v.config(0, key),
		OtherConfig: v.config(1, key),
		BadConfig:   json.RawMessage(`{"access_key_id":"","api_base":"ftp://x","handle_key":"c2hvcnQ=","code_ttl":"1s","accesskey":"typo","notice_templates":{"phone_change":"SMS_1"}}`),
		BadFields:   []string{"access_key_id", "access_key_secret", "sign_name", "api_base", "handle_key", "code_ttl", "accesskey", "notice_templates"},
		Phone:       v.phone,
		People:      v.people,
		Slow:        v.Slow(sbsms.Vendor),
	})
}

// TestSandboxMessage checks what the person receives: the approved
// signature, the code and the lifetime in the template's words.
func TestSandboxMessage(t *testing.T) {
	v := newVendor(t, unlimited)
	p := New(WithLogger(quiet()))
	ctx := context.Background()
	if err := p.Configure(ctx, v.config(0, sandboxtest.HandleKey(t))); err != nil {
		t.Fatal(err)
	}
	phone := v.people.Match.Phone
	tk, err := p.SendCode(ctx, "+86 "+phone, "login")
	if err != nil {
		t.Fatal(err)
	}
	code, err := v.phone.SMSCode(ctx, phone)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.VerifyCode(ctx, tk.Ticket, phone, "login", code); err != nil {
		t.Fatalf("VerifyCode with the normalised phone: %v", err)
	}
	text := v.inboxText(phone)
	if want := "【" + v.keys[0].SignName + "】您的验证码为" + code + "，5分钟内有效，请勿泄露。"; text != want {
		t.Errorf("message %q, want %q", text, want)
	}
}

// TestSandboxNotice checks the phone_changed notice the old number
// receives: the sandbox's notice template with the new number masked.
// Notices have their own flow control: one right after a code to the
// same phone passes under Alibaba Cloud's default limits.
func TestSandboxNotice(t *testing.T) {
	v := newVendor(t, sbsms.Limits{})
	p := New(WithLogger(quiet()))
	ctx := context.Background()
	if err := p.Configure(ctx, v.config(0, sandboxtest.HandleKey(t))); err != nil {
		t.Fatal(err)
	}
	phone := v.people.Match.Phone
	if _, err := p.SendCode(ctx, phone, "change_phone"); err != nil {
		t.Fatal(err)
	}
	if err := p.SendNotice(ctx, phone, stubNotice); err != nil {
		t.Fatalf("a notice right after a code: %v", err)
	}
	text := v.inboxText(phone)
	if want := "【" + v.keys[0].SignName + "】您的报名账号绑定手机号已变更为139****5678。如非本人操作，请立即联系考试机构。"; text != want {
		t.Errorf("message %q, want %q", text, want)
	}
}

func (v *vendor) inboxText(phone string) string {
	msgs, err := v.phone.Inbox(v.t.Context(), phone)
	if err != nil || len(msgs) == 0 {
		v.t.Fatalf("inbox: %v", err)
	}
	return msgs[0].Text
}

// TestSandboxFlowControl sends twice within a minute under Alibaba
// Cloud's default limits: the second is RateLimited.
func TestSandboxFlowControl(t *testing.T) {
	v := newVendor(t, sbsms.Limits{})
	p := New(WithLogger(quiet()))
	ctx := context.Background()
	if err := p.Configure(ctx, v.config(0, sandboxtest.HandleKey(t))); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SendCode(ctx, v.people.Match.Phone, "login"); err != nil {
		t.Fatal(err)
	}
	_, err := p.SendCode(ctx, v.people.Match.Phone, "login")
	if sdk.KindOf(err) != sdk.RateLimited || sdk.VendorCodeOf(err) != "isv.BUSINESS_LIMIT_CONTROL" {
		t.Fatalf("second send within a minute = %v", err)
	}
}

// TestSandboxRefusals drives the sandbox into the errors a wrong
// configuration causes.
func TestSandboxRefusals(t *testing.T) {
	v := newVendor(t, unlimited)
	ctx := context.Background()
	base := map[string]string{}
	_ = json.Unmarshal(v.config(0, sandboxtest.HandleKey(t)), &base)
	cases := []struct {
		name   string
		change map[string]string
		kind   sdk.Kind
		code   string
		field  string
	}{
		{"wrong secret", map[string]string{"access_key_secret": "wrong"}, sdk.InvalidConfig, "SignatureDoesNotMatch", "access_key_secret"},
		{"unknown key", map[string]string{"access_key_id": "LTAInobody"}, sdk.InvalidConfig, "InvalidAccessKeyId.NotFound", "access_key_id"},
		{"another key's signature", map[string]string{"sign_name": v.keys[1].SignName}, sdk.InvalidConfig, "isv.SMS_SIGNATURE_ILLEGAL", "sign_name"},
		{"unknown template", map[string]string{"template_code": "SMS_NOPE"}, sdk.InvalidConfig, "isv.SMS_TEMPLATE_ILLEGAL", "template_code"},
		{"notice template", map[string]string{"template_code": "SMS_SHIMING_PHONE_CHANGED"}, sdk.InvalidConfig, "isv.TEMPLATE_MISSING_PARAMETERS", "template_code"},
		{"api_base with a path", map[string]string{"api_base": base["api_base"] + "v2"}, sdk.InvalidConfig, "InvalidAction.NotFound", "api_base"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]string{}
			for k, val := range base {
				cfg[k] = val
			}
			for k, val := range tc.change {
				cfg[k] = val
			}
			raw, _ := json.Marshal(cfg)
			p := New(WithLogger(quiet()))
			if err := p.Configure(ctx, raw); err != nil {
				t.Fatal(err)
			}
			_, err := p.SendCode(ctx, v.people.Match.Phone, "login")
			wantErr(t, err, tc.kind, tc.code, tc.field)
		})
	}
	t.Run("code template for a notice", func(t *testing.T) {
		cfg := map[string]any{}
		for k, val := range base {
			cfg[k] = val
		}
		cfg["notice_templates"] = map[string]string{"phone_changed": "SMS_SHIMING_CODE"}
		raw, _ := json.Marshal(cfg)
		p := New(WithLogger(quiet()))
		if err := p.Configure(ctx, raw); err != nil {
			t.Fatal(err)
		}
		err := p.SendNotice(ctx, v.people.Match.Phone, stubNotice)
		wantErr(t, err, sdk.InvalidConfig, "isv.TEMPLATE_MISSING_PARAMETERS", "notice_templates")
	})
	t.Run("faults", func(t *testing.T) {
		p := New(WithLogger(quiet()))
		if err := p.Configure(ctx, v.config(0, sandboxtest.HandleKey(t))); err != nil {
			t.Fatal(err)
		}
		for _, f := range []struct {
			code string
			kind sdk.Kind
			want string
		}{
			{"http_500", sdk.VendorUnavailable, "http_500"},
			{"garbage", sdk.VendorUnavailable, "http_200"},
			{"isp.SYSTEM_ERROR", sdk.VendorUnavailable, "isp.SYSTEM_ERROR"},
			{"isv.BUSINESS_LIMIT_CONTROL", sdk.RateLimited, "isv.BUSINESS_LIMIT_CONTROL"},
		} {
			v.Sandbox.Faults().Add(fault.Rule{Vendor: sbsms.Vendor, Code: f.code, Count: 1})
			_, err := p.SendCode(ctx, v.people.Match.Phone, "login")
			wantErr(t, err, f.kind, f.want, "")
		}
	})
}
