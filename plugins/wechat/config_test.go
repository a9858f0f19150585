package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/shiming-id/shiming/plugins/sdk"
)

const testKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

func TestConfigure(t *testing.T) {
	cases := []struct {
		name   string
		config string
		fields []string
	}{
		{"minimal", `{"app_id":"wx6f1b2c3d4e5f6a7b","app_secret":"s3cr3t","handle_key":"` + testKey + `"}`, nil},
		{"everything", `{"app_id":"wx6f1b2c3d4e5f6a7b","app_secret":"s3cr3t","handle_key":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
			"mp_app_id":"wx1111111111111111","mp_app_secret":"x","api_base":"http://127.0.0.1:8081/api.weixin.qq.com/",
			"open_base":"https://open.weixin.qq.com","lp_base":"https://lp.open.weixin.qq.com","face_page_url":"https://exam.example/wxface?from=qr",
			"http_timeout":"3s","qr_ttl":"2m"}`, nil},
		{"nulls are absent", `{"app_id":"wx1","app_secret":"s","handle_key":"` + testKey + `","api_base":null}`, nil},
		{"not an object", `["app_id"]`, []string{"config"}},
		{"not JSON", `{app_id}`, []string{"config"}},
		{"empty", `{}`, []string{"app_id", "app_secret", "handle_key"}},
		{"everything wrong at once", `{"app_id":"wx 1","app_secret":"","api_base":"ftp://x","open_base":"https://o?x=1","lp_base":"//lp",
			"face_page_url":"javascript:alert(1)","handle_key":"c2hvcnQ=","http_timeout":"soon","qr_ttl":"10s","apps_id":"typo"}`,
			[]string{"api_base", "app_id", "app_secret", "apps_id", "face_page_url", "handle_key", "http_timeout", "lp_base", "open_base", "qr_ttl"}},
		{"wrong types", `{"app_id":12,"app_secret":true,"handle_key":"` + testKey + `"}`, []string{"app_id", "app_secret"}},
		{"mini-program id without secret", `{"app_id":"wx1","app_secret":"s","handle_key":"` + testKey + `","mp_app_id":"wx2"}`, []string{"mp_app_secret"}},
		{"timeout too long", `{"app_id":"wx1","app_secret":"s","handle_key":"` + testKey + `","http_timeout":"3m"}`, []string{"http_timeout"}},
		{"base with userinfo", `{"app_id":"wx1","app_secret":"s","handle_key":"` + testKey + `","api_base":"https://u:p@api.weixin.qq.com"}`, []string{"api_base"}},
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
	c, err := parseConfig(json.RawMessage(`{"app_id":"wx1","app_secret":"s","handle_key":"` + testKey + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.apiBase != DefaultAPIBase || c.openBase != DefaultOpenBase || c.lpBase != DefaultLPBase ||
		c.httpTimeout != 10*time.Second || c.qrTTL != 5*time.Minute || c.facePageURL != nil ||
		c.faceAppID() != "wx1" || c.faceAppSecret() != "s" {
		t.Errorf("defaults %+v", c)
	}
}

func TestReconfigureKeepsNoOldState(t *testing.T) {
	s := newStub(t)
	c := newFixedClock()
	p := s.provider(c, nil)
	ss := beginScan(t, p, "st1")
	if err := p.Configure(context.Background(), s.config(map[string]string{"app_id": "wx2222222222222222"})); err != nil {
		t.Fatal(err)
	}
	_, err := p.PollScan(context.Background(), ss.UUID)
	wantErr(t, err, sdk.UUIDInvalid, "")
	if err := p.Configure(context.Background(), json.RawMessage(`{}`)); sdk.KindOf(err) != sdk.InvalidConfig {
		t.Fatalf("bad reconfiguration = %v", err)
	}
	if _, err := p.BeginScan(context.Background(), sdk.BeginScanRequest{CallbackURL: callback}); err != nil {
		t.Errorf("a refused configuration replaced the good one: %v", err)
	}
}
