package wechat

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shiming-id/shiming/contrib/sandbox/citizens"
	"github.com/shiming-id/shiming/contrib/sandbox/simenv"
)

func FuzzRedirectOK(f *testing.F) {
	for _, s := range []string{callback, "http://127.0.0.1:8080/x", "https://evil.example/", "javascript:x", "http://[::1", "//gateway.example/a", "HTTPS://GATEWAY.EXAMPLE/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !redirectOK(testApp, raw) {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted an unparsable URL %q", raw)
		}
		host := strings.ToLower(u.Host)
		if host != "127.0.0.1:8080" && strings.ToLower(u.Hostname()) != "gateway.example" {
			t.Fatalf("accepted %q with host %q", raw, u.Host)
		}
	})
}

func FuzzScopeOK(f *testing.F) {
	for _, s := range []string{"snsapi_login", "snsapi_login,snsapi_login", "snsapi_base", ",", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, scope string) {
		if scopeOK(scope) && strings.Trim(strings.ReplaceAll(scope, "snsapi_login", ""), ",") != "" {
			t.Fatalf("accepted scope %q", scope)
		}
	})
}

func FuzzVerifyRequest(f *testing.F) {
	f.Add(`{"out_seq_no":"abcde","cert_info":{"cert_type":"IDENTITY_CARD","cert_name":"张伟","cert_no":"430102199503141235"},"openid":"o1"}`)
	f.Add(`{"out_seq_no":1}`)
	f.Add(`{} {}`)
	f.Add(`[`)
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		var req getVerifyIDRequest
		if err := decodeBody(r, &req); err != nil {
			return
		}
		if checkVerifyRequest(req, now) == 0 && (!outSeqNoRE.MatchString(req.OutSeqNo) || req.OpenID == "") {
			t.Fatalf("accepted %+v", req)
		}
	})
}

func FuzzMintRequest(f *testing.F) {
	f.Add("application/json", `{"appid":"wx1","citizen":"c001"}`)
	f.Add("application/x-www-form-urlencoded", "appid=wx1&name=%E8%B5%B5&id_number=11010519491231002X")
	f.Add("application/json", `{"appid":`)
	f.Add("text/plain", "%zz")
	f.Fuzz(func(t *testing.T, ctype, body string) {
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		req, err := decodeMintRequest(httptest.NewRecorder(), r)
		if err == nil && req.AppID == "" {
			t.Fatalf("accepted a request without appid: %q", body)
		}
	})
}

func FuzzLookup(f *testing.F) {
	sim, err := New(simenv.Env{Now: time.Now, PublicURL: "http://sandbox.test", Citizens: citizens.Default()}, []App{testApp}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("http://127.0.0.1/open.weixin.qq.com/connect/confirm?uuid=x")
	f.Add("http://127.0.0.1/wxa.sandbox/face?verify_id=%zz")
	f.Add("::::")
	f.Fuzz(func(t *testing.T, qr string) {
		if _, ok := sim.Lookup(context.Background(), qr); ok {
			t.Fatalf("Lookup recognised %q with no sessions", qr)
		}
	})
}
