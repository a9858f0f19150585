package sms

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

func TestConfigure(t *testing.T) {
	const ok = `"access_key_id":"LTAI5tQ9xBvKz2YcNmRw8pJd","access_key_secret":"s3cr3t","sign_name":"实名网关","handle_key":"` + stubHKey + `"`
	cases := []struct {
		name   string
		config string
		fields []string
	}{
		{"minimal", `{` + ok + `}`, nil},
		{"everything", `{` + ok + `,"template_code":"SMS_123456","notice_templates":{"phone_changed":"SMS_654321"},"api_base":"http://127.0.0.1:8081/dysmsapi.aliyuncs.com/","http_timeout":"2s","code_ttl":"10m"}`, nil},
		{"notice templates empty or null", `{` + ok + `,"notice_templates":{}}`, nil},
		{"notice templates null", `{` + ok + `,"notice_templates":null}`, nil},
		{"notice templates not an object", `{` + ok + `,"notice_templates":"SMS_654321"}`, []string{"notice_templates"}},
		{"notice templates of strings", `{` + ok + `,"notice_templates":{"phone_changed":7}}`, []string{"notice_templates"}},
		{"notice template of an unknown kind", `{` + ok + `,"notice_templates":{"phone_change":"SMS_654321"}}`, []string{"notice_templates"}},
		{"notice template code", `{` + ok + `,"notice_templates":{"phone_changed":"SMS 1"}}`, []string{"notice_templates"}},
		{"not an object", `"x"`, []string{"config"}},
		{"empty", `{}`, []string{"access_key_id", "access_key_secret", "handle_key", "sign_name"}},
		{"everything wrong at once", `{"access_key_id":"LTAI 5","access_key_secret":"a b","sign_name":"签\u0000名","handle_key":"AAEC",
			"template_code":"SMS-1","notice_templates":{"x":"SMS_1"},"api_base":"https://dysmsapi.aliyuncs.com/?x=1","http_timeout":"0s","code_ttl":"2h","RegionId":"cn-hangzhou"}`,
			[]string{"RegionId", "access_key_id", "access_key_secret", "api_base", "code_ttl", "handle_key", "http_timeout", "notice_templates", "sign_name", "template_code"}},
		{"wrong types", `{` + ok + `,"code_ttl":300}`, []string{"code_ttl"}},
		{"sign name too long", `{"access_key_id":"a","access_key_secret":"s","handle_key":"` + stubHKey + `","sign_name":"一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三"}`, []string{"sign_name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := New(WithLogger(quiet())).Configure(context.Background(), json.RawMessage(tc.config))
			if tc.fields == nil {
				if err != nil {
					t.Fatalf("Configure = %v", err)
				}
				return
			}
			var e *sdk.Error
			if !errors.As(err, &e) || e.Kind != sdk.InvalidConfig || !slices.Equal(e.Fields, tc.fields) {
				t.Fatalf("Configure = %v, want InvalidConfig naming %v", err, tc.fields)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := parseConfig(json.RawMessage(`{"access_key_id":"a","access_key_secret":"s","sign_name":"签名","handle_key":"` + stubHKey + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.apiBase != "https://dysmsapi.aliyuncs.com" || c.templateCode != "SMS_SHIMING_CODE" ||
		c.httpTimeout != 10*time.Second || c.codeTTL != 5*time.Minute ||
		!maps.Equal(c.noticeTemplates, map[string]string{"phone_changed": "SMS_SHIMING_PHONE_CHANGED"}) {
		t.Errorf("defaults %+v", c)
	}
	c, err = parseConfig(json.RawMessage(`{"access_key_id":"a","access_key_secret":"s","sign_name":"签名","handle_key":"` + stubHKey + `",
		"notice_templates":{"phone_changed":" SMS_654321 "}}`))
	if err != nil || c.noticeTemplates["phone_changed"] != "SMS_654321" {
		t.Errorf("notice_templates given: %v, %v", c.noticeTemplates, err)
	}
}

func TestNotConfigured(t *testing.T) {
	p := New(WithLogger(quiet()))
	_, err := p.SendCode(context.Background(), stubPhone, "login")
	if sdk.KindOf(err) != sdk.InvalidConfig {
		t.Fatalf("SendCode before Configure = %v", err)
	}
	if err := p.VerifyCode(context.Background(), "t", stubPhone, "login", "123456"); sdk.KindOf(err) != sdk.InvalidConfig {
		t.Fatalf("VerifyCode before Configure = %v", err)
	}
	if err := p.SendNotice(context.Background(), stubPhone, stubNotice); sdk.KindOf(err) != sdk.InvalidConfig {
		t.Fatalf("SendNotice before Configure = %v", err)
	}
}
