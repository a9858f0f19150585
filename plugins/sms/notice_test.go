package sms

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	sbsms "github.com/shiming-id/shiming/contrib/sandbox/sms"
	"github.com/shiming-id/shiming/plugins/sdk"
)

// stubNotice is a phone_changed notice of a change to 13912345678.
var stubNotice = sdk.Notice{Kind: sdk.NoticePhoneChanged, Params: map[string]string{"phone": "139****5678"}}

// TestSendNoticeRequest checks the notice's SendSms call: the same
// documented parameters as a code's (testdata/sendsms_request.json), the
// notice template and the notice's params as TemplateParam.
func TestSendNoticeRequest(t *testing.T) {
	cases := []struct {
		name     string
		extra    map[string]string
		template string
	}{
		{"default template", nil, "SMS_SHIMING_PHONE_CHANGED"},
		{"configured template", map[string]string{"template_code": "SMS_100001"}, "SMS_SHIMING_PHONE_CHANGED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newStub(t), newClock()
			if err := s.provider(c, tc.extra).SendNotice(context.Background(), "+86 138-0000-1001", stubNotice); err != nil {
				t.Fatal(err)
			}
			reqs := s.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			r := reqs[0]
			if r.method != http.MethodPost || r.path != "/" {
				t.Errorf("%s %s, want a POST to /", r.method, r.path)
			}
			var doc map[string]string
			b, err := os.ReadFile("testdata/sendsms_request.json")
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			delete(doc, "_doc")
			for name := range doc {
				if len(r.form[name]) != 1 {
					t.Errorf("parameter %s: %v, want one value", name, r.form[name])
				}
			}
			for name := range r.form {
				if _, ok := doc[name]; !ok {
					t.Errorf("undocumented parameter %s", name)
				}
			}
			want := map[string]string{
				"Action": "SendSms", "PhoneNumbers": stubPhone, "SignName": stubSign, "TemplateCode": tc.template,
				"TemplateParam": `{"phone":"139****5678"}`, "AccessKeyId": stubKeyID,
				"Signature": sbsms.Sign(http.MethodPost, r.form, stubSecret),
			}
			for name, w := range want {
				if got := r.form.Get(name); got != w {
					t.Errorf("parameter %s = %q, want %q", name, got, w)
				}
			}
		})
	}
	t.Run("notice_templates", func(t *testing.T) {
		s := newStub(t)
		p := New(WithLogger(quiet()))
		cfg := map[string]any{}
		_ = json.Unmarshal(s.config(nil), &cfg)
		cfg["notice_templates"] = map[string]string{"phone_changed": "SMS_200002"}
		raw, _ := json.Marshal(cfg)
		if err := p.Configure(context.Background(), raw); err != nil {
			t.Fatal(err)
		}
		if err := p.SendNotice(context.Background(), stubPhone, stubNotice); err != nil {
			t.Fatal(err)
		}
		if got := s.requests()[0].form.Get("TemplateCode"); got != "SMS_200002" {
			t.Errorf("TemplateCode = %q, want the configured SMS_200002", got)
		}
	})
}

func TestSendNoticeRefusesBadRequests(t *testing.T) {
	params := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name   string
		phone  string
		notice sdk.Notice
		fields []string
	}{
		{"landline", "073188888888", stubNotice, []string{"phone"}},
		{"unknown kind", stubPhone, sdk.Notice{Kind: "password_reset", Params: stubNotice.Params}, []string{"kind"}},
		{"no kind", stubPhone, sdk.Notice{Params: stubNotice.Params}, []string{"kind"}},
		{"no params", stubPhone, sdk.Notice{Kind: sdk.NoticePhoneChanged}, []string{"params"}},
		{"empty phone param", stubPhone, sdk.Notice{Kind: sdk.NoticePhoneChanged, Params: params("phone", "")}, []string{"params"}},
		{"full new number", stubPhone, sdk.Notice{Kind: sdk.NoticePhoneChanged, Params: params("phone", "13912345678")}, []string{"params"}},
		{"extra param", stubPhone, sdk.Notice{Kind: sdk.NoticePhoneChanged, Params: params("phone", "139****5678", "code", "123456")}, []string{"params"}},
		{"another param", stubPhone, sdk.Notice{Kind: sdk.NoticePhoneChanged, Params: params("number", "139****5678")}, []string{"params"}},
		{"phone and kind", "x", sdk.Notice{Kind: "x"}, []string{"phone", "kind"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStub(t)
			err := s.provider(newClock(), nil).SendNotice(context.Background(), tc.phone, tc.notice)
			var e *sdk.Error
			if !errors.As(err, &e) || e.Kind != sdk.InvalidRequest || !slices.Equal(e.Fields, tc.fields) {
				t.Fatalf("SendNotice = %v, want InvalidRequest naming %v", err, tc.fields)
			}
			if len(s.requests()) != 0 {
				t.Error("the vendor was asked")
			}
		})
	}
}

// TestSendNoticeAnswers checks that the vendor's answers to a notice map
// to kinds as a code's do, a refused template naming notice_templates.
func TestSendNoticeAnswers(t *testing.T) {
	cases := []struct {
		file   string
		status int
		kind   sdk.Kind
		code   string
		field  string
	}{
		{"answers/isv.BUSINESS_LIMIT_CONTROL.json", 200, sdk.RateLimited, "isv.BUSINESS_LIMIT_CONTROL", ""},
		{"answers/isv.DAY_LIMIT_CONTROL.json", 200, sdk.RateLimited, "isv.DAY_LIMIT_CONTROL", ""},
		{"answers/isv.MOBILE_NUMBER_ILLEGAL.json", 200, sdk.InvalidRequest, "isv.MOBILE_NUMBER_ILLEGAL", "phone"},
		{"answers/isv.SMS_SIGNATURE_ILLEGAL.json", 200, sdk.InvalidConfig, "isv.SMS_SIGNATURE_ILLEGAL", "sign_name"},
		{"answers/isv.SMS_TEMPLATE_ILLEGAL.json", 200, sdk.InvalidConfig, "isv.SMS_TEMPLATE_ILLEGAL", "notice_templates"},
		{"answers/isv.TEMPLATE_MISSING_PARAMETERS.json", 200, sdk.InvalidConfig, "isv.TEMPLATE_MISSING_PARAMETERS", "notice_templates"},
		{"answers/SignatureDoesNotMatch.json", 400, sdk.InvalidConfig, "SignatureDoesNotMatch", "access_key_secret"},
		{"answers/isp.SYSTEM_ERROR.json", 200, sdk.VendorUnavailable, "isp.SYSTEM_ERROR", ""},
		{"answers/ServiceUnavailable.json", 503, sdk.VendorUnavailable, "ServiceUnavailable", ""},
		{"html_502.html", 502, sdk.VendorUnavailable, "http_502", ""},
	}
	for _, tc := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(tc.file), ".json"), func(t *testing.T) {
			s := newStub(t)
			s.answer(tc.status, tc.file)
			err := s.provider(newClock(), nil).SendNotice(context.Background(), stubPhone, stubNotice)
			wantErr(t, err, tc.kind, tc.code, tc.field)
			if !strings.Contains(err.Error(), "send notice") {
				t.Errorf("error %q does not say it was a notice", err)
			}
		})
	}
}
